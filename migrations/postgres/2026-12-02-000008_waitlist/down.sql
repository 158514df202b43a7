DROP TABLE waitlist_passed;
DROP TABLE waitlist_entries;
