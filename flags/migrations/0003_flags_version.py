from django.db import migrations, models

# Any change to overrides, targets or cohort membership moves flags_flagsversion.value to the next
# value of a sequence, in the same transaction (statement triggers: once per statement, however
# many rows). A sequence, not +1: a value is never reused, even after a rollback or a truncation.
VERSION_SQL = """
CREATE SEQUENCE flags_version_seq;
CREATE FUNCTION reservex_flags_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO flags_flagsversion (id, value) VALUES (1, nextval('flags_version_seq'))
    ON CONFLICT (id) DO UPDATE SET value = EXCLUDED.value;
    RETURN NULL;
END $$;
CREATE TRIGGER flagoverride_flags_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON flags_flagoverride
    FOR EACH STATEMENT EXECUTE FUNCTION reservex_flags_changed();
CREATE TRIGGER flagtarget_flags_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON flags_flagtarget
    FOR EACH STATEMENT EXECUTE FUNCTION reservex_flags_changed();
CREATE TRIGGER cohortmember_flags_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON flags_cohortmember
    FOR EACH STATEMENT EXECUTE FUNCTION reservex_flags_changed();
INSERT INTO flags_flagsversion (id, value) VALUES (1, nextval('flags_version_seq'));
"""

DROP_SQL = """
DROP TRIGGER IF EXISTS cohortmember_flags_version ON flags_cohortmember;
DROP TRIGGER IF EXISTS flagtarget_flags_version ON flags_flagtarget;
DROP TRIGGER IF EXISTS flagoverride_flags_version ON flags_flagoverride;
DROP FUNCTION IF EXISTS reservex_flags_changed();
DROP SEQUENCE IF EXISTS flags_version_seq;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("flags", "0002_cohorts_targets_rollouts"),
    ]

    operations = [
        migrations.CreateModel(
            name="FlagsVersion",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("value", models.BigIntegerField(default=0)),
            ],
            options={"verbose_name": "flags version"},
        ),
        migrations.RunSQL(VERSION_SQL, DROP_SQL),
    ]
