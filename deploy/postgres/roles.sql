-- Least privilege for Vox's read models on PostgreSQL (ARCHITECTURE.md, "PostgreSQL roles").
--
--   vox_migrate    owns schema public and Vox's tables; runs the migrations (sqlx, at connect)
--   vox_projector  SELECT, INSERT, UPDATE, DELETE on feedback, feedback_tags, rejections,
--                  projector_offsets; TEMPORARY on the database (a projection step stages rows
--                  in a temp table)
--   vox_reader     SELECT on feedback, feedback_tags and rejections, only the rows of the tenant
--                  its session names: SET vox.tenant_id = '<tenant>' (row-level security);
--                  writes nothing
--   vox_auditor    the auditor: SELECT, INSERT on audit_records and audit_checkpoints (it never
--                  changes or deletes one), SELECT, INSERT, UPDATE on audit_bundles and audit_hashes
--                  (a log's last bundle and block grow; triggers refuse any other change), audit_logs (each
--                  log's size and frontier) and projector_offsets (its input offsets, moved in the
--                  same transaction); nothing of the read models
--   vox_api        the people and analyst API: SELECT, INSERT, UPDATE, DELETE on its operational
--                  tables (sessions, totp_steps, totp_pending, recovery_codes_used,
--                  login_throttle, support_uses, sso_requests, sso_assertions, owner_alerts); SELECT on feedback and feedback_tags, only the
--                  rows of the tenant its transaction names: the store runs every analyst query
--                  in a transaction that first runs SELECT set_config('vox.tenant_id', $1, true)
--                  (SET LOCAL; row-level security, the second wall after the query's own
--                  tenant_id = $1); without it, no rows. Nothing else of the read models
--                  (no rejections, no offsets, no writes); SELECT on the audit logs (the compliance
--                  role's reads; the API always names the caller's tenant's log)
--
-- Run it as an administrator (a superuser, or a role with CREATEROLE that owns the database),
-- connected to Vox's database, in one transaction:
--
--   psql -v ON_ERROR_STOP=1 --single-transaction -d vox -f deploy/postgres/roles.sql
--
-- once before the first migration (it makes the roles and hands vox_migrate the schema) and
-- again after every migration: it grants on the tables that exist, and a table a migration adds
-- gets nothing until this file names it. Idempotent, and safe to run concurrently. It sets no
-- passwords: give each role one (ALTER ROLE vox_projector PASSWORD '…') or another
-- authentication in pg_hba.conf. A non-superuser administrator becomes a member of
-- vox_migrate (to hand it the schema and to grant on its tables).
--
-- Roles are per cluster, everything else per database: in a second Vox database on the same
-- cluster, run it there too.

-- The roles: logins without any attribute (no superuser, no BYPASSRLS, no CREATEDB/CREATEROLE).
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['vox_migrate', 'vox_projector', 'vox_reader', 'vox_api', 'vox_auditor'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS', r);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL; -- created meanwhile by a concurrent run
            END;
        ELSIF EXISTS (SELECT FROM pg_roles WHERE rolname = r
                      AND (rolsuper OR rolbypassrls OR rolcreatedb OR rolcreaterole)) THEN
            RAISE EXCEPTION 'role % exists with more privileges than Vox gives it (superuser, BYPASSRLS, CREATEDB or CREATEROLE)', r;
        END IF;
    END LOOP;
    -- Handing vox_migrate the schema and granting on its tables takes membership in it.
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
       AND NOT pg_has_role(current_user, 'vox_migrate', 'MEMBER') THEN
        BEGIN
            EXECUTE format('GRANT vox_migrate TO %I', current_user);
        EXCEPTION WHEN unique_violation THEN
            NULL;
        END;
    END IF;
END
$$;

-- The database: only these roles (and the owner) connect; only the projector makes temp tables.
DO $$
BEGIN
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO vox_migrate, vox_projector, vox_reader, vox_api, vox_auditor', current_database());
    EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO vox_projector', current_database());
END
$$;

-- The schema: vox_migrate owns it (creates and alters the tables); the others may only look
-- up names in it.
DO $$
BEGIN
    IF (SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'public') <> 'vox_migrate' THEN
        ALTER SCHEMA public OWNER TO vox_migrate;
    END IF;
END
$$;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO vox_projector, vox_reader, vox_api, vox_auditor;

-- The tables, once the migrations have made them: vox_migrate owns them (tables an earlier
-- owner made are handed over), the projector writes the read models and its offsets, the
-- reader and the API see their tenant's rows. Row-level security is forced (it binds the owner
-- too), so every role that touches the rows has a policy: all rows for vox_migrate (data
-- migrations) and vox_projector, the session's tenant for vox_reader, the transaction's tenant
-- for vox_api (feedback and feedback_tags only). current_setting(…, true) is NULL when neither
-- session nor transaction has set vox.tenant_id: no rows then.
DO $$
DECLARE
    t text;
    p text;
BEGIN
    FOREACH t IN ARRAY ARRAY['feedback', 'feedback_tags', 'rejections', 'projector_offsets', '_sqlx_migrations',
                             'sessions', 'totp_steps', 'totp_pending', 'recovery_codes_used', 'login_throttle',
                             'support_uses', 'sso_requests', 'sso_assertions', 'owner_alerts', 'audit_logs', 'audit_records',
                             'audit_bundles', 'audit_hashes', 'audit_checkpoints'] LOOP
        IF to_regclass(format('public.%I', t)) IS NOT NULL THEN
            IF (SELECT relowner::regrole::text FROM pg_class WHERE oid = to_regclass(format('public.%I', t)))
               <> 'vox_migrate' THEN
                EXECUTE format('ALTER TABLE public.%I OWNER TO vox_migrate', t);
            END IF;
            EXECUTE format('REVOKE ALL ON public.%I FROM PUBLIC', t);
        END IF;
    END LOOP;

    FOREACH t IN ARRAY ARRAY['feedback', 'feedback_tags', 'rejections', 'projector_offsets'] LOOP
        IF to_regclass(format('public.%I', t)) IS NOT NULL THEN
            EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON public.%I TO vox_projector', t);
        END IF;
    END LOOP;

    -- Roles that do not migrate check, when they connect, that every migration
    -- of their build was applied (`vox migrate`, as vox_migrate).
    IF to_regclass('public._sqlx_migrations') IS NOT NULL THEN
        GRANT SELECT ON public._sqlx_migrations TO vox_projector, vox_reader, vox_api, vox_auditor;
    END IF;

    -- The audit logs: the auditor appends (and never deletes), the API reads them for the
    -- compliance role (always the caller's tenant's log; no row-level security: a log id is not a
    -- tenant column of a read model). The auditor's input offsets share projector_offsets.
    FOREACH t IN ARRAY ARRAY['audit_logs', 'audit_records', 'audit_bundles', 'audit_hashes', 'audit_checkpoints'] LOOP
        IF to_regclass(format('public.%I', t)) IS NOT NULL THEN
            -- Appends only; of the logs' rows only the size and frontier change, and a log's last
            -- bundle of records and block of hashes grow at their end (triggers of the tables refuse
            -- any other change).
            IF t IN ('audit_logs', 'audit_bundles', 'audit_hashes') THEN
                EXECUTE format('GRANT SELECT, INSERT, UPDATE ON public.%I TO vox_auditor', t);
            ELSE
                EXECUTE format('GRANT SELECT, INSERT ON public.%I TO vox_auditor', t);
            END IF;
            EXECUTE format('GRANT SELECT ON public.%I TO vox_api', t);
        END IF;
    END LOOP;
    IF to_regclass('public.projector_offsets') IS NOT NULL THEN
        GRANT SELECT, INSERT, UPDATE ON public.projector_offsets TO vox_auditor;
    END IF;

    -- The people API's operational state (not projections; no tenant column to filter on:
    -- one API node serves every tenant).
    FOREACH t IN ARRAY ARRAY['sessions', 'totp_steps', 'totp_pending', 'recovery_codes_used',
                             'login_throttle', 'support_uses', 'sso_requests', 'sso_assertions',
                             'owner_alerts'] LOOP
        IF to_regclass(format('public.%I', t)) IS NOT NULL THEN
            EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON public.%I TO vox_api', t);
        END IF;
    END LOOP;

    FOREACH t IN ARRAY ARRAY['feedback', 'feedback_tags', 'rejections'] LOOP
        IF to_regclass(format('public.%I', t)) IS NOT NULL THEN
            EXECUTE format('GRANT SELECT ON public.%I TO vox_reader', t);
            EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', t);
            EXECUTE format('ALTER TABLE public.%I FORCE ROW LEVEL SECURITY', t);
            -- Made anew each time, so that a changed definition here takes effect.
            FOR p IN SELECT policyname FROM pg_policies
                     WHERE schemaname = 'public' AND tablename = t
                       AND policyname IN ('vox_migrate_all', 'vox_projector_all', 'vox_reader_tenant',
                                          'vox_api_tenant') LOOP
                EXECUTE format('DROP POLICY %I ON public.%I', p, t);
            END LOOP;
            EXECUTE format('CREATE POLICY vox_migrate_all ON public.%I TO vox_migrate USING (true) WITH CHECK (true)', t);
            EXECUTE format('CREATE POLICY vox_projector_all ON public.%I TO vox_projector USING (true) WITH CHECK (true)', t);
            EXECUTE format('CREATE POLICY vox_reader_tenant ON public.%I FOR SELECT TO vox_reader '
                           'USING (tenant_id = current_setting(''vox.tenant_id'', true))', t);
            -- The analyst API: the feedback and its tags, never the dead letters.
            IF t IN ('feedback', 'feedback_tags') THEN
                EXECUTE format('GRANT SELECT ON public.%I TO vox_api', t);
                EXECUTE format('CREATE POLICY vox_api_tenant ON public.%I FOR SELECT TO vox_api '
                               'USING (tenant_id = current_setting(''vox.tenant_id'', true))', t);
            END IF;
        END IF;
    END LOOP;
END
$$;
