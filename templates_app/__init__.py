"""WhatsApp accounts, sender numbers and message templates mirrored from Meta."""
