"""The Telegram bot (python-telegram-bot); built in a later issue."""
