"""Gemini AI Studio keys and Vertex AI service accounts: credentials, requests, tokens."""
