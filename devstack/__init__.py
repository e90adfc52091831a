"""Local development stack: moto S3, a Bedrock Runtime emulator and a REST gateway.

Never shipped in the Lambda; it runs the very same ``service`` code on one machine, offline.
"""
