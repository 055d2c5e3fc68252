"""The operator commands (python -m commands.accounts, ...): processes of their own, so like
worker.py they open the database through runtime and then talk to the services only."""
