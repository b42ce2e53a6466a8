"""GET a URL with a deadline; prints {"status": N, "body": "..."} or {"error": "..."}.

Usage: http_get.py URL [TIMEOUT_SECONDS]
"""
import json
import sys
import urllib.error
import urllib.request

url = sys.argv[1]
timeout = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
try:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        print(json.dumps({"status": response.status, "body": response.read().decode("utf-8", "replace")}))
except urllib.error.HTTPError as error:
    print(json.dumps({"status": error.code, "body": error.read().decode("utf-8", "replace")}))
except Exception as error:  # noqa: BLE001 - the test reports whatever happened
    print(json.dumps({"error": type(error).__name__ + ": " + str(error)}))
