"""The classic Bedrock + API Gateway + Lambda + S3 recipe's handler, written plainly.

Kept only as the benchmark baseline (it has the recipe's defects: second-resolution keys that
collide, no validation, no Content-Type, SigV2-style presigning). Do not deploy it.
"""

import base64
import datetime
import json
import os

import boto3

bedrock = boto3.client("bedrock-runtime")
s3 = boto3.client("s3")
BUCKET = os.environ["IMAGEGEN_BUCKET"]


def lambda_handler(event, context):
    prompt = json.loads(event["body"])["prompt"]
    response = bedrock.invoke_model(
        modelId="stability.stable-diffusion-xl-v1",
        body=json.dumps(
            {"text_prompts": [{"text": prompt}], "cfg_scale": 10, "steps": 30, "seed": 0}
        ),
    )
    payload = json.loads(response["body"].read())
    image = base64.b64decode(payload["artifacts"][0]["base64"])
    key = "generated-image-" + datetime.datetime.now().strftime("%Y-%m-%d-%H-%M-%S")
    s3.put_object(Bucket=BUCKET, Key=key, Body=image)
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=3600
    )
    return {"statusCode": 200, "body": json.dumps({"image_url": url})}
