-- wrk script for examples/ceiling.rs's POST /writes (see there).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"note": "a booking-sized note for the write ceiling"}'
