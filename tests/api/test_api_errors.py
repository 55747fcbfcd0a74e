import json
import pytest

def test_probe(api, customer):
    n = customer.client_number
    body = {"channel": "email", "decision": "grant", "journey": "digital_self_service", "wording_version": "email-v1", "affirmative_action": None, "evidence": {"ip": "192.0.2.1", "user_agent": "x"}}
    seen = {}
    for depth in range(500, 1000, 5):
        for where in ("aff", "evidence", "unknown", "top"):
            if where == "aff":
                raw = json.dumps(body).replace('null', "[" * depth + "]" * depth)
            elif where == "evidence":
                raw = json.dumps(dict(body, affirmative_action=True)).replace('"x"', "[" * depth + "]" * depth)
            elif where == "unknown":
                raw = json.dumps(dict(body, affirmative_action=True, zz=None)).replace('null', "[" * depth + "]" * depth)
            else:
                raw = "[" * depth + "]" * depth
            for key in (None, "k%d%s" % (depth, where)):
                extra = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
                try:
                    r = api.post(f"/api/v1/clients/{n}/consents", data=raw, content_type="application/json", **extra)
                    res = (r.status_code, r.json()["error"]["code"] if r.status_code >= 400 else "")
                except Exception as e:
                    res = ("EXC", type(e).__name__)
                seen.setdefault((where, bool(key), res), []).append(depth)
    for k, v in seen.items():
        print(k, v[0], v[-1], len(v))
