"""The lab launcher and CLI (talks to the SSM and the agent over HTTP only)."""
