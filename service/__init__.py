"""imagegen service: prompt in, private S3 image and presigned URL out.

Standard library + boto3 only, because this package is the deployed Lambda.
"""
