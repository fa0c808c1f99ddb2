"""An incoming photo with a caption, quoting an earlier message, plus a location: upload, then reference.

POST /api/v1/uploads streams the file (multipart, up to 20 MB) and answers an uploadId, valid for a while and
for one message of this tenant; POST /api/v1/messages names it in `attachments`. A file you host can be given
as `url` instead: SberCRM fetches it in the background (status pending → stored or failed).

SBERCRM_API_URL=https://<SberCRM host>/api/v1 SBERCRM_TOKEN=<client token> python public_api_attachment.py photo.jpg
"""

import os
import sys

import requests

API_URL = os.environ.get("SBERCRM_API_URL", "https://crm.example.ru/api/v1")
TOKEN = os.environ["SBERCRM_TOKEN"]
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


def check(response: requests.Response) -> dict:
    if response.status_code not in (200, 201):
        error = response.json()["error"]
        sys.exit(f"{response.status_code} {error['code']}: {error['message']} {error.get('fields', '')}")
    return response.json()


with open(sys.argv[1], "rb") as photo:  # the real type is checked; EXIF location is removed
    upload = check(requests.post(f"{API_URL}/uploads", files={"file": photo}, data={"type": "image"},
                                 timeout=60, headers=HEADERS))

message = {
    "id": "msg-5002",
    "chat": {"id": "chat-1001", "participants": [{"id": "user-42", "name": "Иван Петров"}]},
    "text": "Вот фото посылки",  # may be empty when there are attachments
    "senderId": "user-42",
    "replyTo": "msg-5001",  # your id of the quoted message; unknown yet → kept, resolved when it arrives
    "attachments": [
        {"type": "image", "uploadId": upload["uploadId"], "name": "parcel.jpg"},
        {"type": "location", "location": {"latitude": 55.7558, "longitude": 37.6173, "title": "Пункт выдачи"}},
    ],
}
response = requests.post(f"{API_URL}/messages", json=message, timeout=10, headers=HEADERS)
saved = check(response)
photo, place = saved["attachments"]
print(response.status_code, saved["id"], "reply resolved" if saved["replyToResolved"] else "reply unresolved",
      photo["status"], photo["checksum"], place["type"])
