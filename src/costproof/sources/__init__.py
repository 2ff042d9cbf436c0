"""Format adapters: bytes in, typed rows and errors out. They never touch the catalog."""
