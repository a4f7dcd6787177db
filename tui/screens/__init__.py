"""Screens: the main layout, help, flow picker, too-small notice, text and choice prompts."""
