"""Pydantic models shared by the API, the CLI, the workflows, the activities and the database.

Each payload has exactly one model here; nothing else defines its shape.
"""
