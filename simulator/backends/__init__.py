"""Backends realize a topology: process (default, local processes), docker and kind."""
