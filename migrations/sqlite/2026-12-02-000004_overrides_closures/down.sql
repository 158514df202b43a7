DROP TABLE location_closures;
DROP TABLE schedule_override_rules;
DROP TABLE schedule_overrides;
