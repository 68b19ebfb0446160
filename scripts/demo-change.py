"""Demo: someone turns X-Ray off on orders/prod; CloudTrail's record of that call reaches
the operator's queue the way an EventBridge rule delivers it (moto emits no CloudTrail
events, so this sends the record itself), and the operator, in Enforce, repairs the
stage from a fresh read. Prints how long the change took to be seen and repaired.

Usage: demo-change.py QUEUE_URL (AWS_ENDPOINT_URL and credentials from the environment)
"""

import json
import sys
import time

import boto3

REGION = "us-east-1"
queue_url = sys.argv[1]
apigw = boto3.client("apigateway", region_name=REGION)
sqs = boto3.client("sqs", region_name=REGION)
account = boto3.client("sts", region_name=REGION).get_caller_identity()["Account"]

orders = next(api["id"] for api in apigw.get_rest_apis()["items"] if api["name"] == "orders")
apigw.update_stage(
    restApiId=orders,
    stageName="prod",
    patchOperations=[{"op": "replace", "path": "/tracingEnabled", "value": "false"}],
)
print(f"turned X-Ray off on orders/prod ({orders}); sending CloudTrail's record of it to the queue")
event = {
    "version": "0",
    "id": "demo-1",
    "detail-type": "AWS API Call via CloudTrail",
    "source": "aws.apigateway",
    "account": account,
    "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "region": REGION,
    "resources": [],
    "detail": {
        "eventSource": "apigateway.amazonaws.com",
        "eventName": "UpdateStage",
        "awsRegion": REGION,
        "recipientAccountId": account,
        "requestParameters": {"restApiId": orders, "stageName": "prod"},
        "responseElements": None,
    },
}
sent = time.monotonic()
sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(event))
while time.monotonic() - sent < 60:
    if apigw.get_stage(restApiId=orders, stageName="prod").get("tracingEnabled"):
        print(f"the operator repaired orders/prod {time.monotonic() - sent:.1f} s after the event arrived")
        break
    time.sleep(0.2)
else:
    sys.exit("orders/prod was not repaired within 60 s")
