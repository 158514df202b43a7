"""A client generated from the committed spec with openapi-python-client's default settings,
driven through a client's whole flow against a running server: register, find a slot, book,
reschedule, cancel. Any answer that is not the documented success (or that the generated models
cannot parse) fails the run. Run by scripts/conformance.sh; needs the generated package on
PYTHONPATH and CONFORMANCE_ORIGIN (e.g. http://127.0.0.1:18080)."""

import datetime as dt
import os
import sys
import uuid

from inspine_booking_api_client import AuthenticatedClient, Client
from inspine_booking_api_client.api.auth import me, register
from inspine_booking_api_client.api.bookings import (
    cancel_booking,
    create_booking,
    get_booking,
    reschedule_booking,
)
from inspine_booking_api_client.api.catalog import list_massage_types
from inspine_booking_api_client.api.slots import list_slots
from inspine_booking_api_client.models import (
    AuthResponse,
    BookingOut,
    BookingStatus,
    CancelRequest,
    BookSlot,
    PageMassageTypeOut,
    RegisterRequest,
    RescheduleRequest,
    SlotList,
    UserOut,
)


def expect(value, kind, what):
    if not isinstance(value, kind):
        sys.exit(f"{what}: expected {kind.__name__}, got {value!r}")
    return value


def main() -> None:
    origin = os.environ["CONFORMANCE_ORIGIN"]
    anonymous = Client(base_url=origin, raise_on_unexpected_status=True)
    email = f"generated-{uuid.uuid4().hex[:12]}@client.example"
    auth = expect(
        register.sync(
            client=anonymous,
            body=RegisterRequest(email=email, password="a generated client's passphrase", name="Generated Client"),
        ),
        AuthResponse,
        "register",
    )
    client = AuthenticatedClient(base_url=origin, token=auth.access_token, raise_on_unexpected_status=True)
    expect(me.sync(client=client), UserOut, "me")

    types = expect(list_massage_types.sync(client=anonymous), PageMassageTypeOut, "massage types")
    swedish = next(t for t in types.items if t.slug == "swedish")
    minutes = swedish.options[0].duration_minutes
    today = dt.date.today()
    slots = []
    # Two days ahead at least: a client may change a booking only outside the 24-hour window.
    for offset in range(2, 30):
        day = today + dt.timedelta(days=offset)
        found = expect(
            list_slots.sync(client=anonymous, massage_type_id=swedish.id, duration_minutes=minutes, from_=day, to=day),
            SlotList,
            "slots",
        )
        slots = found.items
        if len(slots) >= 2:
            break
    if len(slots) < 2:
        sys.exit("no day with two offered slots in the next four weeks")
    first, later = slots[0], slots[-1]

    booking = expect(
        create_booking.sync(
            client=client,
            body=BookSlot(
                therapist_id=first.therapist_id,
                massage_type_id=swedish.id,
                duration_minutes=minutes,
                start=first.start,
            ),
            idempotency_key=f"generated-{uuid.uuid4()}",
        ),
        BookingOut,
        "book",
    )
    assert booking.status == BookingStatus.CONFIRMED, booking
    moved = expect(
        reschedule_booking.sync(
            booking.id, client=client, body=RescheduleRequest(start=later.start, therapist_id=later.therapist_id)
        ),
        BookingOut,
        "reschedule",
    )
    assert moved.start == later.start, (moved.start, later.start)
    cancelled = expect(
        cancel_booking.sync(booking.id, client=client, body=CancelRequest(reason="generated client check")),
        BookingOut,
        "cancel",
    )
    assert cancelled.status == BookingStatus.CANCELLED, cancelled
    read = expect(get_booking.sync(booking.id, client=client), BookingOut, "read back")
    assert read.status == BookingStatus.CANCELLED
    print(f"generated client: registered, booked {first.start}, moved to {later.start}, cancelled")


if __name__ == "__main__":
    main()
