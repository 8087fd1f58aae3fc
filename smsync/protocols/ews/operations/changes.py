"""Item changes: UpdateItem, DeleteItem, MoveItem, CopyItem, CreateItem."""
