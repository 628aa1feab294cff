"""The web portal and agents' board: a channel that turns HTTP forms into chat commands."""
