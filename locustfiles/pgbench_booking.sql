-- The bare SQL of one booking (admission + first inline attempt), for pgbench:
-- what POST /api/v1/bookings costs the database when no Python, Django, HTTP or telemetry is involved.
--
--   pgbench -n -f locustfiles/pgbench_booking.sql -D rid=<restaurant id> -D tid=<table id> \
--           -D daykey=<lock key> -c 8 -j 2 -T 10 <the load-test database>
--
-- Needs: CREATE SEQUENCE loadtest_pgbench_seq (locustfiles/run.py creates it and deletes the rows
-- afterwards). Every transaction takes the SAME service-day advisory lock, like the slot-fill
-- bookings of one restaurant's day, and writes a window that no other transaction overlaps (one
-- table, windows two hours apart in 2031), so the exclusion constraint is checked but never fires.
\set party 2
SELECT nextval('loadtest_pgbench_seq') AS n \gset
BEGIN;
SELECT set_config('lock_timeout', '2000ms', true);
SELECT pg_advisory_xact_lock(:rid::int4, :daykey::int4);
-- The capacity read: bookings that hold capacity and overlap the window.
SELECT starts_at, ends_at, party_size FROM bookings_booking
 WHERE restaurant_id = :rid AND status IN ('pending', 'confirmed', 'seated')
   AND starts_at < timestamptz '2031-01-01 00:00+00' + (:n + 1) * interval '2 hours'
   AND ends_at > timestamptz '2031-01-01 00:00+00' + :n * interval '2 hours';
INSERT INTO bookings_booking (
    reference, code, restaurant_id, party_size, starts_at, ends_at, guest_name, guest_email, guest_phone,
    notes, source, status, status_reason, capacity_override, allocation_reason, created_at, updated_at
) VALUES (
    'pgb' || :n, lpad(:n::text, 7, '0'), :rid, :party,
    timestamptz '2031-01-01 00:00+00' + :n * interval '2 hours',
    timestamptz '2031-01-01 00:00+00' + :n * interval '2 hours' + interval '90 minutes',
    'pgbench', '', '', '', 'api', 'pending', '', false, NULL, now(), now()
) RETURNING id AS booking_id \gset
INSERT INTO bookings_tableoccupancy (restaurant_id, table_id, during, kind, booking_id, created_at)
VALUES (
    :rid, :tid,
    tstzrange(timestamptz '2031-01-01 00:00+00' + :n * interval '2 hours',
              timestamptz '2031-01-01 00:00+00' + :n * interval '2 hours' + interval '90 minutes', '[)'),
    'assignment', :booking_id, now()
);
UPDATE bookings_booking SET status = 'confirmed', confirmed_at = now(), allocation_reason = '{"pgbench": true}'
 WHERE id = :booking_id AND status = 'pending';
COMMIT;
