"""SyncFolderHierarchy and SyncFolderItems."""
