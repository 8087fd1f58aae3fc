"""Store backends shipped with smsync, and the way to open any backend by URI."""
