"""R3, R11: a new client starts at `none`; a digital grant makes the channel eligible."""

from optin.integrity import verify_log
from optin.models import ConsentState
from optin.selectors import eligibility


def test_new_client_has_both_channels_at_none_and_is_not_eligible(customer):
    states = dict(ConsentState.objects.filter(client=customer).values_list("channel", "status"))
    assert states == {"email": "none", "sms_push": "none"}
    assert [a.reason for a in eligibility("email", [customer.client_number])] == ["no_consent"]


def test_digital_grant_makes_the_channel_eligible_and_the_log_verifies(customer, grant):
    result = grant(customer, "email")
    assert result.status == "granted"
    answer = eligibility("email", [customer.client_number])[0]
    assert (answer.eligible, answer.reason) == (True, "granted")
    assert verify_log().ok
