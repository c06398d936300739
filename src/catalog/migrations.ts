import type { Database } from 'better-sqlite3'

/** One versioned, forward-only change to the catalog schema. */
export interface Migration {
  version: number
  name: string
  /** The change in SQLite's SQL; also PostgreSQL's unless `postgresql` says otherwise (see postgresSql). */
  sql: string
  /** PostgreSQL's own script where SQLite's cannot run there (triggers, table rebuilds). */
  postgresql?: string
}

/** Tables whose ids tools show or take: an id, once given, is never given again (migration 9). */
export const ID_TABLES = ['users', 'roles', 'databases', 'datasets', 'dataset_columns', 'dataset_metrics', 'charts', 'dashboards', 'api_keys'] as const
export type IdTable = (typeof ID_TABLES)[number]

/** Migration 4's table, the same on both backends. */
const LINK_STATES = `
      CREATE TABLE link_states (
        key TEXT PRIMARY KEY,
        -- explore: an unsaved chart config on a dataset; sql: a query on a database
        kind TEXT NOT NULL CHECK (kind IN ('explore', 'sql')),
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        dataset_id INTEGER REFERENCES datasets(id) ON DELETE CASCADE,
        database_id INTEGER REFERENCES databases(id) ON DELETE CASCADE,
        payload TEXT NOT NULL,
        created_on TEXT NOT NULL,
        expires_on TEXT NOT NULL
      );
      CREATE INDEX link_states_expiry ON link_states (expires_on);
      -- Signs the service's links when MCP_LINK_SECRET is not set: shared by every replica on
      -- this catalog, so a link made on one opens on any other, and after restarts.`

/**
 * The catalog schema, in order. Never edit a migration that has shipped: add a new one.
 * Timestamps are ISO-8601 UTC strings (they sort as text); booleans are 0/1.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'users, roles, databases, datasets, charts, dashboards',
    sql: `
      CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        username TEXT NOT NULL UNIQUE,
        first_name TEXT NOT NULL DEFAULT '',
        last_name TEXT NOT NULL DEFAULT '',
        email TEXT UNIQUE,
        active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
        created_on TEXT NOT NULL,
        changed_on TEXT NOT NULL
      );

      CREATE TABLE roles (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        description TEXT NOT NULL DEFAULT '',
        builtin INTEGER NOT NULL DEFAULT 0 CHECK (builtin IN (0, 1))
      );

      CREATE TABLE user_roles (
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        role_id INTEGER NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
        PRIMARY KEY (user_id, role_id)
      );

      CREATE TABLE databases (
        id INTEGER PRIMARY KEY,
        uuid TEXT NOT NULL UNIQUE,
        database_name TEXT NOT NULL UNIQUE,
        backend TEXT NOT NULL,
        -- a file path for sqlite, a connection URL otherwise; may hold credentials, never returned by a tool
        connection TEXT NOT NULL,
        allow_dml INTEGER NOT NULL DEFAULT 0 CHECK (allow_dml IN (0, 1)),
        expose_in_sqllab INTEGER NOT NULL DEFAULT 1 CHECK (expose_in_sqllab IN (0, 1)),
        description TEXT,
        created_by_fk INTEGER REFERENCES users(id) ON DELETE SET NULL,
        changed_by_fk INTEGER REFERENCES users(id) ON DELETE SET NULL,
        created_on TEXT NOT NULL,
        changed_on TEXT NOT NULL
      );

      CREATE TABLE datasets (
        id INTEGER PRIMARY KEY,
        uuid TEXT NOT NULL UNIQUE,
        database_id INTEGER NOT NULL REFERENCES databases(id) ON DELETE CASCADE,
        schema TEXT,
        table_name TEXT NOT NULL,
        sql TEXT,
        description TEXT,
        main_dttm_col TEXT,
        certified_by TEXT,
        certification_details TEXT,
        created_by_fk INTEGER REFERENCES users(id) ON DELETE SET NULL,
        changed_by_fk INTEGER REFERENCES users(id) ON DELETE SET NULL,
        created_on TEXT NOT NULL,
        changed_on TEXT NOT NULL
      );
      CREATE UNIQUE INDEX datasets_database_schema_table ON datasets (database_id, COALESCE(schema, ''), table_name);

      CREATE TABLE dataset_columns (
        id INTEGER PRIMARY KEY,
        dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
        column_name TEXT NOT NULL,
        verbose_name TEXT,
        type TEXT,
        is_dttm INTEGER NOT NULL DEFAULT 0 CHECK (is_dttm IN (0, 1)),
        groupby INTEGER NOT NULL DEFAULT 1 CHECK (groupby IN (0, 1)),
        filterable INTEGER NOT NULL DEFAULT 1 CHECK (filterable IN (0, 1)),
        description TEXT,
        ordinal INTEGER NOT NULL,
        UNIQUE (dataset_id, column_name)
      );

      CREATE TABLE dataset_metrics (
        id INTEGER PRIMARY KEY,
        dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
        metric_name TEXT NOT NULL,
        verbose_name TEXT,
        expression TEXT NOT NULL,
        description TEXT,
        d3format TEXT,
        UNIQUE (dataset_id, metric_name)
      );

      CREATE TABLE dataset_owners (
        dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        PRIMARY KEY (dataset_id, user_id)
      );

      CREATE TABLE charts (
        id INTEGER PRIMARY KEY,
        uuid TEXT NOT NULL UNIQUE,
        slice_name TEXT NOT NULL,
        viz_type TEXT NOT NULL,
        dataset_id INTEGER REFERENCES datasets(id) ON DELETE SET NULL,
        description TEXT,
        params TEXT NOT NULL DEFAULT '{}',
        cache_timeout INTEGER,
        certified_by TEXT,
        certification_details TEXT,
        created_by_fk INTEGER REFERENCES users(id) ON DELETE SET NULL,
        changed_by_fk INTEGER REFERENCES users(id) ON DELETE SET NULL,
        created_on TEXT NOT NULL,
        changed_on TEXT NOT NULL
      );
      CREATE INDEX charts_dataset ON charts (dataset_id);

      CREATE TABLE chart_owners (
        chart_id INTEGER NOT NULL REFERENCES charts(id) ON DELETE CASCADE,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        PRIMARY KEY (chart_id, user_id)
      );

      CREATE TABLE dashboards (
        id INTEGER PRIMARY KEY,
        uuid TEXT NOT NULL UNIQUE,
        dashboard_title TEXT NOT NULL,
        slug TEXT UNIQUE,
        description TEXT,
        published INTEGER NOT NULL DEFAULT 0 CHECK (published IN (0, 1)),
        css TEXT,
        position_json TEXT,
        json_metadata TEXT,
        certified_by TEXT,
        certification_details TEXT,
        created_by_fk INTEGER REFERENCES users(id) ON DELETE SET NULL,
        changed_by_fk INTEGER REFERENCES users(id) ON DELETE SET NULL,
        created_on TEXT NOT NULL,
        changed_on TEXT NOT NULL
      );

      CREATE TABLE dashboard_charts (
        dashboard_id INTEGER NOT NULL REFERENCES dashboards(id) ON DELETE CASCADE,
        chart_id INTEGER NOT NULL REFERENCES charts(id) ON DELETE CASCADE,
        PRIMARY KEY (dashboard_id, chart_id)
      );
      CREATE INDEX dashboard_charts_chart ON dashboard_charts (chart_id);

      CREATE TABLE dashboard_owners (
        dashboard_id INTEGER NOT NULL REFERENCES dashboards(id) ON DELETE CASCADE,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        PRIMARY KEY (dashboard_id, user_id)
      );

      INSERT INTO roles (name, description, builtin) VALUES
        ('Admin', 'Full access to every object and setting', 1),
        ('Alpha', 'Reads everything, creates and edits charts, dashboards and datasets', 1),
        ('Gamma', 'Reads the charts, dashboards and datasets it is granted', 1),
        ('sql_lab', 'May run SQL against the databases it is granted', 1);
    `
  },
  {
    version: 2,
    name: 'role permissions (class and data access), superuser roles, API keys',
    sql: `
      ALTER TABLE roles ADD COLUMN superuser INTEGER NOT NULL DEFAULT 0 CHECK (superuser IN (0, 1));
      UPDATE roles SET superuser = 1 WHERE name = 'Admin';

      -- Superset-style permissions: (can_read, Chart), (can_execute_sql_query, SQLLab),
      -- (database_access, Database, id), (datasource_access, Dataset, id), (all_datasource_access, all).
      CREATE TABLE role_permissions (
        role_id INTEGER NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
        permission TEXT NOT NULL,
        resource TEXT NOT NULL,
        resource_id INTEGER
      );
      CREATE UNIQUE INDEX role_permissions_unique ON role_permissions (role_id, permission, resource, COALESCE(resource_id, 0));

      INSERT INTO role_permissions (role_id, permission, resource)
        SELECT r.id, p.permission, p.resource FROM roles r JOIN (
          SELECT 'Alpha' AS role, 'can_read' AS permission, 'Chart' AS resource
          UNION ALL SELECT 'Alpha', 'can_write', 'Chart'
          UNION ALL SELECT 'Alpha', 'can_read', 'Dashboard'
          UNION ALL SELECT 'Alpha', 'can_write', 'Dashboard'
          UNION ALL SELECT 'Alpha', 'can_read', 'Dataset'
          UNION ALL SELECT 'Alpha', 'can_write', 'Dataset'
          UNION ALL SELECT 'Alpha', 'can_read', 'Database'
          UNION ALL SELECT 'Alpha', 'all_datasource_access', 'all'
          UNION ALL SELECT 'Gamma', 'can_read', 'Chart'
          UNION ALL SELECT 'Gamma', 'can_read', 'Dashboard'
          UNION ALL SELECT 'Gamma', 'can_read', 'Dataset'
          UNION ALL SELECT 'Gamma', 'can_read', 'Database'
          UNION ALL SELECT 'sql_lab', 'can_read', 'SQLLab'
          UNION ALL SELECT 'sql_lab', 'can_execute_sql_query', 'SQLLab'
        ) p ON p.role = r.name;

      CREATE TABLE api_keys (
        id INTEGER PRIMARY KEY,
        -- the public part of the key string, used to find the row
        key_id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL UNIQUE,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        -- SHA-256 of the secret part; the secret itself is never stored
        secret_hash TEXT NOT NULL,
        -- JSON array of OAuth-style scopes, or NULL for a key limited by RBAC only
        scopes TEXT,
        created_on TEXT NOT NULL,
        expires_on TEXT,
        last_used_on TEXT,
        revoked_on TEXT
      );
      CREATE INDEX api_keys_user ON api_keys (user_id);
    `
  },
  {
    version: 3,
    name: 'catalog identity and content version (cache invalidation)',
    // Response caches key on (instance_id, content_version): any change to what tools show,
    // made by any process (a tool, the CLI, another replica), bumps the version, so no cached
    // answer outlives the content it was computed from. Users, roles and memberships count
    // because results show names, role lists and user and role counts. The access version
    // moves with users, roles, memberships and grants: per-request user and permission
    // lookups are reused until it does.
    sql: `
      CREATE TABLE catalog_state (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
      INSERT INTO catalog_state (key, value) VALUES
        ('instance_id', lower(hex(randomblob(16)))),
        ('content_version', '0'),
        ('access_version', '0');
      CREATE TRIGGER access_version_users_insert AFTER INSERT ON users BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'access_version'; END;
      CREATE TRIGGER access_version_users_update AFTER UPDATE ON users BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'access_version'; END;
      CREATE TRIGGER access_version_users_delete AFTER DELETE ON users BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'access_version'; END;
      CREATE TRIGGER access_version_roles_insert AFTER INSERT ON roles BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'access_version'; END;
      CREATE TRIGGER access_version_roles_update AFTER UPDATE ON roles BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'access_version'; END;
      CREATE TRIGGER access_version_roles_delete AFTER DELETE ON roles BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'access_version'; END;
      CREATE TRIGGER access_version_user_roles_insert AFTER INSERT ON user_roles BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'access_version'; END;
      CREATE TRIGGER access_version_user_roles_update AFTER UPDATE ON user_roles BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'access_version'; END;
      CREATE TRIGGER access_version_user_roles_delete AFTER DELETE ON user_roles BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'access_version'; END;
      CREATE TRIGGER access_version_role_permissions_insert AFTER INSERT ON role_permissions BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'access_version'; END;
      CREATE TRIGGER access_version_role_permissions_update AFTER UPDATE ON role_permissions BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'access_version'; END;
      CREATE TRIGGER access_version_role_permissions_delete AFTER DELETE ON role_permissions BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'access_version'; END;
      CREATE TRIGGER content_version_users_insert AFTER INSERT ON users BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_version'; END;
      CREATE TRIGGER content_version_roles_insert AFTER INSERT ON roles BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_version'; END;
      CREATE TRIGGER content_version_roles_update AFTER UPDATE ON roles BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_version'; END;
      CREATE TRIGGER content_version_roles_delete AFTER DELETE ON roles BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_version'; END;
      CREATE TRIGGER content_version_user_roles_insert AFTER INSERT ON user_roles BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_version'; END;
      CREATE TRIGGER content_version_user_roles_delete AFTER DELETE ON user_roles BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_version'; END;
      CREATE TRIGGER content_version_databases_insert AFTER INSERT ON databases BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_version'; END;
      CREATE TRIGGER content_version_databases_update AFTER UPDATE ON databases BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_version'; END;
      CREATE TRIGGER content_version_databases_delete AFTER DELETE ON databases BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_version'; END;
      CREATE TRIGGER content_version_datasets_insert AFTER INSERT ON datasets BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_version'; END;
      CREATE TRIGGER content_version_datasets_update AFTER UPDATE ON datasets BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_version'; END;
      CREATE TRIGGER content_version_datasets_delete AFTER DELETE ON datasets BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_version'; END;
      CREATE TRIGGER content_version_dataset_columns_insert AFTER INSERT ON dataset_columns BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_version'; END;
      CREATE TRIGGER content_version_dataset_columns_update AFTER UPDATE ON dataset_columns BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_version'; END;
      CREATE TRIGGER content_version_dataset_columns_delete AFTER DELETE ON dataset_columns BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_version'; END;
      CREATE TRIGGER content_version_dataset_metrics_insert AFTER INSERT ON dataset_metrics BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_version'; END;
      CREATE TRIGGER content_version_dataset_metrics_update AFTER UPDATE ON dataset_metrics BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_version'; END;
      CREATE TRIGGER content_version_dataset_metrics_delete AFTER DELETE ON dataset_metrics BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_version'; END;
      CREATE TRIGGER content_version_charts_insert AFTER INSERT ON charts BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_version'; END;
      CREATE TRIGGER content_version_charts_update AFTER UPDATE ON charts BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_version'; END;
      CREATE TRIGGER content_version_charts_delete AFTER DELETE ON charts BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_version'; END;
      CREATE TRIGGER content_version_dashboards_insert AFTER INSERT ON dashboards BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_version'; END;
      CREATE TRIGGER content_version_dashboards_update AFTER UPDATE ON dashboards BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_version'; END;
      CREATE TRIGGER content_version_dashboards_delete AFTER DELETE ON dashboards BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_version'; END;
      CREATE TRIGGER content_version_dashboard_charts_insert AFTER INSERT ON dashboard_charts BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_version'; END;
      CREATE TRIGGER content_version_dashboard_charts_update AFTER UPDATE ON dashboard_charts BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_version'; END;
      CREATE TRIGGER content_version_dashboard_charts_delete AFTER DELETE ON dashboard_charts BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_version'; END;
      CREATE TRIGGER content_version_chart_owners_insert AFTER INSERT ON chart_owners BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_version'; END;
      CREATE TRIGGER content_version_chart_owners_update AFTER UPDATE ON chart_owners BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_version'; END;
      CREATE TRIGGER content_version_chart_owners_delete AFTER DELETE ON chart_owners BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_version'; END;
      CREATE TRIGGER content_version_dashboard_owners_insert AFTER INSERT ON dashboard_owners BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_version'; END;
      CREATE TRIGGER content_version_dashboard_owners_update AFTER UPDATE ON dashboard_owners BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_version'; END;
      CREATE TRIGGER content_version_dashboard_owners_delete AFTER DELETE ON dashboard_owners BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_version'; END;
      CREATE TRIGGER content_version_dataset_owners_insert AFTER INSERT ON dataset_owners BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_version'; END;
      CREATE TRIGGER content_version_dataset_owners_update AFTER UPDATE ON dataset_owners BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_version'; END;
      CREATE TRIGGER content_version_dataset_owners_delete AFTER DELETE ON dataset_owners BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_version'; END;
      CREATE TRIGGER content_version_users_update AFTER UPDATE ON users BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_version'; END;
    `,
    // The same versions, moved by PostgreSQL triggers on the same tables, so a write by any
    // process (a replica, the CLI, psql) counts. Each move of a version notifies the channel
    // every replica LISTENs on, which is how their memos learn of it without a query per call.
    postgresql: `
      CREATE TABLE catalog_state (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
      INSERT INTO catalog_state (key, value) VALUES
        ('instance_id', replace(gen_random_uuid()::text, '-', '')),
        ('content_version', '0'),
        ('access_version', '0');
      CREATE FUNCTION catalog_bump_versions() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        UPDATE catalog_state SET value = CAST(CAST(value AS BIGINT) + 1 AS TEXT) WHERE key = ANY (TG_ARGV);
        RETURN NULL;
      END $$;
      CREATE FUNCTION catalog_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('analytics_mcp_catalog', NEW.key);
        RETURN NULL;
      END $$;
      CREATE TRIGGER catalog_state_notify AFTER UPDATE ON catalog_state FOR EACH ROW EXECUTE FUNCTION catalog_notify_change();
      CREATE TRIGGER versions AFTER INSERT OR UPDATE OR DELETE ON users FOR EACH ROW EXECUTE FUNCTION catalog_bump_versions('access_version', 'content_version');
      CREATE TRIGGER versions AFTER INSERT OR UPDATE OR DELETE ON roles FOR EACH ROW EXECUTE FUNCTION catalog_bump_versions('access_version', 'content_version');
      CREATE TRIGGER versions AFTER INSERT OR UPDATE OR DELETE ON user_roles FOR EACH ROW EXECUTE FUNCTION catalog_bump_versions('access_version', 'content_version');
      CREATE TRIGGER versions AFTER INSERT OR UPDATE OR DELETE ON role_permissions FOR EACH ROW EXECUTE FUNCTION catalog_bump_versions('access_version');
      CREATE TRIGGER versions AFTER INSERT OR UPDATE OR DELETE ON databases FOR EACH ROW EXECUTE FUNCTION catalog_bump_versions('content_version');
      CREATE TRIGGER versions AFTER INSERT OR UPDATE OR DELETE ON datasets FOR EACH ROW EXECUTE FUNCTION catalog_bump_versions('content_version');
      CREATE TRIGGER versions AFTER INSERT OR UPDATE OR DELETE ON dataset_columns FOR EACH ROW EXECUTE FUNCTION catalog_bump_versions('content_version');
      CREATE TRIGGER versions AFTER INSERT OR UPDATE OR DELETE ON dataset_metrics FOR EACH ROW EXECUTE FUNCTION catalog_bump_versions('content_version');
      CREATE TRIGGER versions AFTER INSERT OR UPDATE OR DELETE ON dataset_owners FOR EACH ROW EXECUTE FUNCTION catalog_bump_versions('content_version');
      CREATE TRIGGER versions AFTER INSERT OR UPDATE OR DELETE ON charts FOR EACH ROW EXECUTE FUNCTION catalog_bump_versions('content_version');
      CREATE TRIGGER versions AFTER INSERT OR UPDATE OR DELETE ON chart_owners FOR EACH ROW EXECUTE FUNCTION catalog_bump_versions('content_version');
      CREATE TRIGGER versions AFTER INSERT OR UPDATE OR DELETE ON dashboards FOR EACH ROW EXECUTE FUNCTION catalog_bump_versions('content_version');
      CREATE TRIGGER versions AFTER INSERT OR UPDATE OR DELETE ON dashboard_charts FOR EACH ROW EXECUTE FUNCTION catalog_bump_versions('content_version');
      CREATE TRIGGER versions AFTER INSERT OR UPDATE OR DELETE ON dashboard_owners FOR EACH ROW EXECUTE FUNCTION catalog_bump_versions('content_version');
    `
  },
  {
    version: 4,
    name: 'link states (unsaved chart configs and SQL behind explore and SQL links)',
    sql: `${LINK_STATES}
      INSERT INTO catalog_state (key, value) VALUES ('link_secret', lower(hex(randomblob(32))));
    `,
    postgresql: `${LINK_STATES}
      INSERT INTO catalog_state (key, value) VALUES ('link_secret', replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''));
    `
  },
  {
    version: 5,
    name: 'dashboard slugs unique per caller, not across the catalog',
    // A slug unique across every dashboard made "taken" an oracle: a caller learnt that a
    // dashboard they may not see has that slug. Slugs are now unique among the dashboards each
    // caller sees (checked by update_dashboard), as dataset names are. SQLite cannot drop a
    // column's UNIQUE, so the table is rebuilt with the same rows and ids. Dropping the old
    // table cascades to its link tables (foreign keys stay on inside the migration's
    // transaction), so their rows are kept aside and put back; its triggers are made again.
    sql: `
      CREATE TEMP TABLE kept_dashboard_charts AS SELECT dashboard_id, chart_id FROM dashboard_charts;
      CREATE TEMP TABLE kept_dashboard_owners AS SELECT dashboard_id, user_id FROM dashboard_owners;

      CREATE TABLE dashboards_v5 (
        id INTEGER PRIMARY KEY,
        uuid TEXT NOT NULL UNIQUE,
        dashboard_title TEXT NOT NULL,
        slug TEXT,
        description TEXT,
        published INTEGER NOT NULL DEFAULT 0 CHECK (published IN (0, 1)),
        css TEXT,
        position_json TEXT,
        json_metadata TEXT,
        certified_by TEXT,
        certification_details TEXT,
        created_by_fk INTEGER REFERENCES users(id) ON DELETE SET NULL,
        changed_by_fk INTEGER REFERENCES users(id) ON DELETE SET NULL,
        created_on TEXT NOT NULL,
        changed_on TEXT NOT NULL
      );
      INSERT INTO dashboards_v5 (id, uuid, dashboard_title, slug, description, published, css, position_json, json_metadata, certified_by, certification_details, created_by_fk, changed_by_fk, created_on, changed_on)
        SELECT id, uuid, dashboard_title, slug, description, published, css, position_json, json_metadata, certified_by, certification_details, created_by_fk, changed_by_fk, created_on, changed_on FROM dashboards;
      DROP TABLE dashboards;
      ALTER TABLE dashboards_v5 RENAME TO dashboards;
      CREATE INDEX dashboards_slug ON dashboards (slug);

      INSERT INTO dashboard_charts (dashboard_id, chart_id) SELECT dashboard_id, chart_id FROM temp.kept_dashboard_charts;
      INSERT INTO dashboard_owners (dashboard_id, user_id) SELECT dashboard_id, user_id FROM temp.kept_dashboard_owners;
      DROP TABLE temp.kept_dashboard_charts;
      DROP TABLE temp.kept_dashboard_owners;

      CREATE TRIGGER content_version_dashboards_insert AFTER INSERT ON dashboards BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_version'; END;
      CREATE TRIGGER content_version_dashboards_update AFTER UPDATE ON dashboards BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_version'; END;
      CREATE TRIGGER content_version_dashboards_delete AFTER DELETE ON dashboards BEGIN UPDATE catalog_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_version'; END;
    `,
    // PostgreSQL drops the constraint in place: rows, ids, links and triggers stay as they are.
    postgresql: `
      ALTER TABLE dashboards DROP CONSTRAINT dashboards_slug_key;
      CREATE INDEX dashboards_slug ON dashboards (slug);
    `
  },
  {
    version: 6,
    name: 'warehouse connections',
    // Where a database's password comes from (env:VAR or file:/path; never the password itself)
    // and its engine options as JSON: schemas, files (DuckDB globs), row_limit, timeout.
    sql: `
      ALTER TABLE databases ADD COLUMN password_source TEXT;
      ALTER TABLE databases ADD COLUMN options TEXT NOT NULL DEFAULT '{}';
    `
  },
  {
    version: 7,
    name: 'databases declared in MCP_DATABASES',
    // 1: registered from MCP_DATABASES, which each start-up restores; 0: registered by the CLI.
    sql: `
      ALTER TABLE databases ADD COLUMN managed INTEGER NOT NULL DEFAULT 0 CHECK (managed IN (0, 1));
    `
  },
  {
    version: 8,
    name: 'OAuth authorization server',
    // Everything a sign-in needs between its steps, so each step may reach another replica.
    // Codes, refresh tokens and client secrets are stored as SHA-256 hashes of 256-bit random
    // values: a copy of the catalog hands out no credential.
    sql: `
      CREATE TABLE oauth_clients (
        client_id TEXT PRIMARY KEY,
        -- a confidential client's secret hash; NULL for public clients (PKCE only)
        secret_hash TEXT,
        -- the RFC 7591 metadata: client_name, redirect_uris, token_endpoint_auth_method, ...
        metadata TEXT NOT NULL,
        created_on TEXT NOT NULL,
        last_used_on TEXT NOT NULL
      );
      CREATE INDEX oauth_clients_last_used ON oauth_clients (last_used_on);

      -- authorization requests between /oauth/authorize, the upstream sign-in and the consent form
      CREATE TABLE oauth_requests (
        id TEXT PRIMARY KEY,
        payload TEXT NOT NULL,
        user_id INTEGER REFERENCES users(id) ON DELETE CASCADE,
        consent_hash TEXT,
        created_on TEXT NOT NULL,
        expires_on TEXT NOT NULL
      );
      CREATE INDEX oauth_requests_expiry ON oauth_requests (expires_on);

      -- one sign-in of a user to a client: its code and refresh tokens form one family
      CREATE TABLE oauth_grants (
        id TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        client_id TEXT NOT NULL,
        client_name TEXT NOT NULL,
        scopes TEXT NOT NULL,
        resource TEXT NOT NULL,
        created_on TEXT NOT NULL,
        expires_on TEXT NOT NULL,
        revoked_on TEXT,
        revoked_reason TEXT
      );
      CREATE INDEX oauth_grants_user ON oauth_grants (user_id);
      CREATE INDEX oauth_grants_expiry ON oauth_grants (expires_on);

      CREATE TABLE oauth_codes (
        code_hash TEXT PRIMARY KEY,
        grant_id TEXT NOT NULL REFERENCES oauth_grants(id) ON DELETE CASCADE,
        redirect_uri TEXT NOT NULL,
        code_challenge TEXT NOT NULL,
        expires_on TEXT NOT NULL,
        used_on TEXT
      );

      CREATE TABLE oauth_refresh_tokens (
        token_hash TEXT PRIMARY KEY,
        grant_id TEXT NOT NULL REFERENCES oauth_grants(id) ON DELETE CASCADE,
        created_on TEXT NOT NULL,
        expires_on TEXT NOT NULL,
        used_on TEXT
      );
      CREATE INDEX oauth_refresh_tokens_grant ON oauth_refresh_tokens (grant_id);
    `
  },
  {
    version: 9,
    name: 'ids are never reused',
    // SQLite gives a new row the highest id plus one, so deleting the newest chart handed its id
    // to the next one: a saved link, a cached answer or a model's memory of "chart 9" then meant
    // another chart. The highest id each table ever gave is kept here and new rows take the next
    // (Catalog.newId). PostgreSQL's identity columns never go back; the table is kept there too,
    // unused, so both catalogs have the same tables.
    sql: `
      CREATE TABLE catalog_sequences (
        name TEXT PRIMARY KEY,
        last_id INTEGER NOT NULL
      );
      ${ID_TABLES.map(table => `INSERT INTO catalog_sequences (name, last_id) SELECT '${table}', COALESCE(MAX(id), 0) FROM ${table};`).join('\n      ')}
    `
  }
]

export const LATEST_CATALOG_VERSION = MIGRATIONS.at(-1)?.version ?? 0

export const BOOKKEEPING = `
  CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_on TEXT NOT NULL
  )`

/**
 * A migration's script for PostgreSQL: its own where it has one, else SQLite's with the
 * differences of the shared DDL translated (SQLite's rowid key is an identity column there).
 */
export function postgresSql (migration: Migration): string {
  // Integers are 64-bit in SQLite: BIGINT keeps every id a tool may be given in range.
  return (migration.postgresql ?? migration.sql.replace(/INTEGER PRIMARY KEY/g, 'INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY'))
    .replace(/\bINTEGER\b/g, 'BIGINT').trim()
}

/** The version the catalog file is at (0 for an empty file). */
export function catalogVersion (db: Database): number {
  db.exec(BOOKKEEPING)
  const row = db.prepare('SELECT MAX(version) AS version FROM schema_migrations').get() as { version: number | null }
  return row.version ?? 0
}

export function pendingMigrations (db: Database, migrations: readonly Migration[] = MIGRATIONS): Migration[] {
  const current = catalogVersion(db)
  return migrations.filter(migration => migration.version > current)
}

/**
 * Apply every pending migration, each in its own transaction, and return what was applied.
 * `BEGIN IMMEDIATE` takes the write lock first, so two processes upgrading the same file
 * at once serialise instead of both applying a migration.
 */
export function applyMigrations (db: Database, migrations: readonly Migration[] = MIGRATIONS): Migration[] {
  const applied: Migration[] = []
  for (const migration of migrations) {
    const step = db.transaction(() => {
      if (catalogVersion(db) >= migration.version) return false
      db.exec(migration.sql)
      db.prepare('INSERT INTO schema_migrations (version, name, applied_on) VALUES (?, ?, ?)')
        .run(migration.version, migration.name, new Date().toISOString())
      return true
    })
    if (step.immediate()) applied.push(migration)
  }
  return applied
}
