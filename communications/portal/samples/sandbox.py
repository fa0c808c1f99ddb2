"""Try your app in the sandbox before publishing: install a draft version, get a sandbox token, create a chat
through the public API, let the CRM operator answer (your sendMessage is called), and read the delivery log.

SBERCRM_URL=https://<SberCRM host> SBERCRM_EMAIL=<you> SBERCRM_PASSWORD=<password> \
APP_CODE=acme-chat APP_VERSION=1.0.0 python sandbox.py
"""

import os
import sys
import time

import requests

BASE = os.environ.get("SBERCRM_URL", "https://crm.example.ru")
MARKETPLACE = f"{BASE}/internal/v1/marketplace"
APP = {"appCode": os.environ.get("APP_CODE", "acme-chat")}


def check(response: requests.Response) -> dict:
    if response.status_code not in (200, 201):
        error = response.json()["error"]
        sys.exit(f"{response.status_code} {error['code']}: {error['message']} {error.get('fields', '')}")
    return response.json()


# the developer's JWT (access: 15 minutes; POST /api/auth/token/refresh/ with `refresh` for a new one)
tokens = check(requests.post(f"{BASE}/api/auth/token/", timeout=10, json={
    "username": os.environ["SBERCRM_EMAIL"], "password": os.environ["SBERCRM_PASSWORD"]}))
developer = {"Authorization": f"Bearer {tokens['access']}"}

# any of your versions, published or not
sandbox = check(requests.post(f"{MARKETPLACE}/sandbox/installations", headers=developer, timeout=10,
                              json={**APP, "appVersion": os.environ.get("APP_VERSION", "1.0.0")}))
print("sandbox tenant", sandbox["tenantId"])

# a sandbox integration token: what a tenant would enter in your account; shown once
client_token = check(requests.post(f"{MARKETPLACE}/sandbox/tokens", headers=developer, json=APP, timeout=10))["token"]
provider = {"Authorization": f"Bearer {client_token}"}

# your side: a chat through the public API, as in production
chat = {"id": "sandbox-chat-1", "title": "Тестовый клиент", "type": "private",
        "participants": [{"id": "client-1", "name": "Тестовый клиент"}]}
check(requests.post(f"{BASE}/api/v1/chats", headers=provider, json=chat, timeout=10))

# the CRM operator answers: SberCRM calls your sendMessage, signed, with your API key
message = check(requests.post(f"{MARKETPLACE}/sandbox/operator/messages", headers=developer, timeout=10,
                              json={**APP, "chatId": chat["id"], "text": "Здравствуйте! Чем помочь?"}))
print("operator message", message["id"])

# the delivery log: what we sent you, each attempt with its answer
for _ in range(30):
    log = check(requests.get(f"{MARKETPLACE}/deliveries", headers=developer, timeout=10,
                             params={"tenant": "sandbox", "endpoint": "sendMessage", "app": APP["appCode"]}))
    if log["results"] and log["results"][0]["status"] not in ("pending", "in_progress"):
        break
    time.sleep(1)
call = log["results"][0]
print("sendMessage", call["status"], [attempt["statusCode"] for attempt in call["attempts"]])
if call["status"] in ("dead", "refused"):  # fix your endpoint, then:
    check(requests.post(f"{MARKETPLACE}/deliveries/{call['id']}/retry", headers=developer, timeout=10))
