# Store backends are found here through twisted.plugin.getPlugins(IStoreBackend, smsync.plugins);
# third parties add a smsync/plugins/ directory of their own anywhere on sys.path.
from twisted.plugin import pluginPackagePaths

__path__.extend(pluginPackagePaths(__name__))
__all__ = []
