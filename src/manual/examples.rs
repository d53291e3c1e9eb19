//! The EXAMPLES section of every leaf command's manual page, by page name.

/// Page name → (command line, what it does).
pub(super) const EXAMPLES: &[(&str, &[(&str, &str)])] = &[
    (
        "cloudgate",
        &[
            (
                "cloudgate demo",
                "Run the whole story on loopback in temporary directories.",
            ),
            (
                "cloudgate sp cert manage",
                "Create the SP certificate with the wizard.",
            ),
            (
                "cloudgate tenant provider add backup.example.com --username globex",
                "Add a service provider on a tenant.",
            ),
        ],
    ),
    (
        "cloudgate-sp-license-install",
        &[(
            "cloudgate sp license install acme.toml",
            "Install a license; its licensee names the default subject.",
        )],
    ),
    (
        "cloudgate-sp-license-show",
        &[(
            "cloudgate sp license show --json",
            "Show the license as JSON.",
        )],
    ),
    (
        "cloudgate-sp-cert-generate",
        &[
            (
                "cloudgate sp cert generate --apply",
                "RSA 2048, one year, the licensee's subject, and put it into use.",
            ),
            (
                "cloudgate sp cert generate --key-type ecdsa-p256 --san backup.example.com --valid-days 90",
                "A P-256 certificate for a DNS name, valid 90 days.",
            ),
        ],
    ),
    (
        "cloudgate-sp-cert-import",
        &[
            (
                "cloudgate sp cert import sp.pfx --password-file pw.txt --apply",
                "Import a PKCS#12 file from Windows or OpenSSL and use it.",
            ),
            (
                "cloudgate sp cert import fullchain.pem --key privkey.pem",
                "Import a certificate and chain with its key in another file.",
            ),
        ],
    ),
    (
        "cloudgate-sp-cert-manage",
        &[(
            "cloudgate sp cert manage",
            "Generate, pick, import or keep, review the Summary, Finish.",
        )],
    ),
    (
        "cloudgate-sp-cert-stage",
        &[(
            "cloudgate sp cert stage 6573A1B2 --at 2027-01-15T02:00:00Z",
            "Announce a successor and switch to it at a set time.",
        )],
    ),
    (
        "cloudgate-sp-cert-renew",
        &[(
            "cloudgate sp cert renew --apply",
            "Renew the certificate in use with the same key.",
        )],
    ),
    (
        "cloudgate-sp-cert-acme-issue",
        &[
            (
                "cloudgate sp cert acme issue --domain backup.example.com --email ops@example.com --http-01 --apply",
                "A certificate from Let's Encrypt, validated over HTTP on port 80, put into use.",
            ),
            (
                "cloudgate sp cert acme issue --domain backup.example.com --directory https://ca.internal:9000/acme/acme/directory --directory-ca /etc/step/root_ca.crt --dns-hook /usr/local/sbin/acme-dns-hook",
                "From a private step-ca, validated through DNS by a hook.",
            ),
        ],
    ),
    (
        "cloudgate-sp-cert-acme-renew",
        &[
            (
                "cloudgate sp cert acme renew --apply",
                "Renew with the same CA, names and key: pinned tenants notice nothing.",
            ),
            (
                "cloudgate sp cert acme renew --new-key",
                "A new key, staged as the successor with a rollover proof.",
            ),
        ],
    ),
    (
        "cloudgate-sp-cert-acme-revoke",
        &[(
            "cloudgate sp cert acme revoke 3F2A9C01",
            "Ask the CA to revoke a certificate it issued that is no longer in use.",
        )],
    ),
    (
        "cloudgate-sp-cert-acme-rotate-account-key",
        &[(
            "cloudgate sp cert acme rotate-account-key",
            "Give the ACME account a new key.",
        )],
    ),
    (
        "cloudgate-sp-cert-list",
        &[(
            "cloudgate sp cert list --json | jq '.[].thumbprint'",
            "Thumbprints of every certificate in the store.",
        )],
    ),
    (
        "cloudgate-sp-cert-show",
        &[(
            "cloudgate sp cert show 6573A1B2 --copy",
            "Show a certificate and copy its Summary.",
        )],
    ),
    (
        "cloudgate-sp-cert-current",
        &[("cloudgate sp cert current", "The certificate in use.")],
    ),
    (
        "cloudgate-sp-cert-apply",
        &[(
            "cloudgate sp cert apply 6573A1B2",
            "Put a certificate into use (the gateway reloads within a second).",
        )],
    ),
    (
        "cloudgate-sp-cert-status",
        &[(
            "cloudgate sp cert status",
            "What is in use, staged, and which tenants confirmed it.",
        )],
    ),
    (
        "cloudgate-sp-cert-check",
        &[(
            "cloudgate sp cert check --json",
            "Check the entry in use for monitoring.",
        )],
    ),
    (
        "cloudgate-sp-cert-export",
        &[
            (
                "cloudgate sp cert export 6573A1B2 --out sp.pem",
                "The certificate alone, PEM.",
            ),
            (
                "cloudgate sp cert export 6573A1B2 --format pfx --out sp.pfx",
                "Certificate, chain and key for Windows (asks a password).",
            ),
        ],
    ),
    (
        "cloudgate-sp-cert-remove",
        &[(
            "cloudgate sp cert remove 6573A1B2",
            "Remove a certificate that is not in use.",
        )],
    ),
    (
        "cloudgate-sp-tenant-add",
        &[
            (
                "printf '%s\\n' \"$PW\" | cloudgate sp tenant add globex --password-stdin",
                "Create a tenant account.",
            ),
            (
                "printf '%s\\n' \"$PW\" | cloudgate sp tenant add trial --password-stdin --expires 2027-01-31 --max-tunnels 2",
                "A trial account: two tunnels at once, refused from February 1.",
            ),
        ],
    ),
    (
        "cloudgate-sp-tenant-list",
        &[(
            "cloudgate sp tenant list",
            "Every tenant, its services and machines.",
        )],
    ),
    (
        "cloudgate-sp-tenant-show",
        &[(
            "cloudgate sp tenant show globex",
            "A tenant with its services and enrolled machines.",
        )],
    ),
    (
        "cloudgate-sp-tenant-set-password",
        &[(
            "cloudgate sp tenant set-password globex --password-file pw.txt",
            "Replace a tenant's password.",
        )],
    ),
    (
        "cloudgate-sp-tenant-disable",
        &[(
            "cloudgate sp tenant disable globex",
            "Refuse the tenant's enrollments and tunnels.",
        )],
    ),
    (
        "cloudgate-sp-tenant-enable",
        &[("cloudgate sp tenant enable globex", "Allow it again.")],
    ),
    (
        "cloudgate-sp-tenant-remove",
        &[(
            "cloudgate sp tenant remove globex",
            "Delete the tenant, its services and machines.",
        )],
    ),
    (
        "cloudgate-sp-tenant-token-create",
        &[(
            "cloudgate sp tenant token create globex --expires 24h --label laptop > globex.token",
            "A one-use join token for a new machine of tenant globex.",
        )],
    ),
    (
        "cloudgate-sp-tenant-token-list",
        &[(
            "cloudgate sp tenant token list globex",
            "Its tokens and their state.",
        )],
    ),
    (
        "cloudgate-sp-tenant-token-revoke",
        &[(
            "cloudgate sp tenant token revoke 1a2b3c4d",
            "Revoke a token by its id.",
        )],
    ),
    (
        "cloudgate-tenant-join",
        &[(
            "cloudgate tenant join --token-file globex.token",
            "Add the provider with the token the SP sent: no thumbprint, no password.",
        )],
    ),
    (
        "cloudgate-sp-tenant-prune",
        &[(
            "cloudgate sp tenant prune globex --unseen-days 90",
            "Remove the machines that have not connected for 90 days.",
        )],
    ),
    (
        "cloudgate-sp-tenant-usage",
        &[
            (
                "cloudgate sp tenant usage",
                "Every tenant's usage this month, one row per tenant and day.",
            ),
            (
                "cloudgate sp tenant usage globex --since 2026-11-01 --until 2026-12-01 --per total --csv",
                "November's totals for billing: exact bytes up and down, tunnels and tunnel seconds.",
            ),
            (
                "cloudgate sp tenant usage globex --since 24h --per hour --by-machine --json",
                "The last day, hour by hour, per machine.",
            ),
        ],
    ),
    (
        "cloudgate-sp-tenant-revoke",
        &[(
            "cloudgate sp tenant revoke globex 3F9A…",
            "Remove one enrolled machine's certificate.",
        )],
    ),
    (
        "cloudgate-sp-tenant-service-add",
        &[(
            "cloudgate sp tenant service add globex repo 10.0.0.5:10001",
            "Let the tenant reach a repository.",
        )],
    ),
    (
        "cloudgate-sp-tenant-service-list",
        &[(
            "cloudgate sp tenant service list globex",
            "The tenant's services.",
        )],
    ),
    (
        "cloudgate-sp-tenant-service-remove",
        &[(
            "cloudgate sp tenant service remove globex repo",
            "Take a service away.",
        )],
    ),
    (
        "cloudgate-sp-gateway-run",
        &[
            (
                "cloudgate sp gateway run",
                "Listen on port 6180 (IPv6 and IPv4), DATA_DIR/gateway.toml if present.",
            ),
            (
                "cloudgate sp gateway run --listen 0.0.0.0:6180 --metrics 127.0.0.1:9180",
                "IPv4 only, with Prometheus metrics on loopback.",
            ),
        ],
    ),
    (
        "cloudgate-sp-gateway-address",
        &[(
            "cloudgate sp gateway address backup.example.com",
            "Tell tenants to reach the gateway by this name.",
        )],
    ),
    (
        "cloudgate-sp-db-status",
        &[
            (
                "cloudgate sp db status",
                "Where the SP database is, its schema version, applied and pending migrations.",
            ),
            (
                "cloudgate sp db status --json | jq .version",
                "The schema version, for a script.",
            ),
        ],
    ),
    (
        "cloudgate-sp-db-migrate",
        &[(
            "cloudgate sp db migrate",
            "Apply pending migrations now, e.g. right after upgrading cloudgate.",
        )],
    ),
    (
        "cloudgate-sp-db-import-sqlite",
        &[(
            "CLOUDGATE_DATABASE_URL=postgres://cloudgate:PASSWORD@db.example/cloudgate cloudgate sp db import-sqlite /var/lib/cloudgate/sp.db",
            "Move a single-host install into PostgreSQL (the target must be empty).",
        )],
    ),
    (
        "cloudgate-sp-gateway-list",
        &[
            (
                "cloudgate sp gateway list",
                "The fleet: each gateway, up, down or stopped, its address, pool and load.",
            ),
            (
                "cloudgate sp gateway list --json | jq -r '.[] | select(.state == \"down\") | .id'",
                "The gateways that stopped heartbeating.",
            ),
        ],
    ),
    (
        "cloudgate-sp-gateway-forget",
        &[(
            "cloudgate sp gateway forget gw-3:6180",
            "Drop a decommissioned gateway from the list.",
        )],
    ),
    (
        "cloudgate-sp-tenant-set",
        &[
            (
                "cloudgate sp tenant set globex --pool eu",
                "Globex's machines use the gateways of pool eu.",
            ),
            (
                "cloudgate sp tenant set globex --failover-outside-pool true",
                "And the other pools' gateways when none of eu's answers.",
            ),
            (
                "cloudgate sp tenant set globex --max-upload 20MB/s --limit-window 'mon-fri 08:00-18:00'",
                "At most 20 MB/s from Globex during office hours (UTC), over all its machines and gateways; unlimited otherwise.",
            ),
            (
                "cloudgate sp tenant set globex --max-tunnels 8 --max-tunnels-per-machine 2",
                "At most 8 tunnels open at once, 2 per machine; more are refused with tenant_limit.",
            ),
            (
                "cloudgate sp tenant set globex --expires 2027-03-31",
                "The lease ends as March 31 ends (UTC); the audit warns 30, 7 and 1 days before.",
            ),
            (
                "cloudgate sp tenant set globex --allow-from 203.0.113.0/24,2001:db8::/32",
                "Enrollment and tunnels from these networks only.",
            ),
            (
                "cloudgate sp tenant set globex --max-upload unlimited --expires never --allow-from any",
                "Lift those limits.",
            ),
        ],
    ),
    (
        "cloudgate-sp-fleet-init",
        &[(
            "cloudgate --database postgres://cloudgate@db.example/cloudgate sp fleet init",
            "Make the fleet key and publish the certificate in use (password in ~/.pgpass).",
        )],
    ),
    (
        "cloudgate-sp-fleet-publish",
        &[(
            "cloudgate sp fleet publish",
            "Publish the certificate in use now (sp cert commands do it themselves).",
        )],
    ),
    (
        "cloudgate-sp-fleet-status",
        &[(
            "cloudgate sp fleet status --json | jq .published.sha256",
            "What every gateway of the fleet serves.",
        )],
    ),
    (
        "cloudgate-sp-fleet-rotate-key",
        &[
            (
                "cloudgate sp fleet rotate-key",
                "Start a rotation: a new key, the certificate sealed under both.",
            ),
            (
                "cloudgate sp fleet rotate-key --finish",
                "Once every gateway host has the new key: seal under it alone.",
            ),
        ],
    ),
    (
        "cloudgate-sp-console",
        &[
            (
                "cloudgate sp console",
                "The console on https://127.0.0.1:6181/ (reach it through ssh -L 6181:127.0.0.1:6181).",
            ),
            (
                "curl --cacert sp.pem -H \"Authorization: Bearer $(cat ci.token)\" https://127.0.0.1:6181/api/v1/tenants",
                "The REST API with an API token.",
            ),
        ],
    ),
    (
        "cloudgate-sp-admin-add",
        &[(
            "cloudgate sp admin add alice --password-stdin < pw.txt",
            "An administrator for the console, password from a file.",
        )],
    ),
    (
        "cloudgate-sp-admin-list",
        &[("cloudgate sp admin list --json", "Every administrator.")],
    ),
    (
        "cloudgate-sp-admin-set-password",
        &[(
            "cloudgate sp admin set-password alice",
            "Asks for the new password twice.",
        )],
    ),
    (
        "cloudgate-sp-admin-remove",
        &[("cloudgate sp admin remove alice", "No more console access.")],
    ),
    (
        "cloudgate-sp-admin-token-create",
        &[(
            "cloudgate sp admin token create --name ci --expires 30d --json | jq -r .token > ci.token",
            "A token for a script, kept in a file; shown this once.",
        )],
    ),
    (
        "cloudgate-sp-admin-token-list",
        &[(
            "cloudgate sp admin token list",
            "Tokens, their state and last use.",
        )],
    ),
    (
        "cloudgate-sp-admin-token-revoke",
        &[(
            "cloudgate sp admin token revoke 3f9a1c",
            "By a unique prefix of its id.",
        )],
    ),
    (
        "cloudgate-sp-audit-list",
        &[
            (
                "cloudgate sp audit list --since 24h --event enroll.refused",
                "Yesterday's refused enrollments, from every gateway of the fleet.",
            ),
            (
                "cloudgate sp audit list --grep globex --json | jq -r '.[] | [.time, .actor, .event] | @tsv'",
                "What happened to one tenant, for a script.",
            ),
        ],
    ),
    (
        "cloudgate-sp-maintenance-on",
        &[
            (
                "cloudgate sp maintenance on --message 'storage upgrade' --until 2h",
                "Refuse new tunnels everywhere for about two hours; open ones finish.",
            ),
            (
                "cloudgate sp maintenance on --pool eu --drain 30m --message 'moving racks'",
                "Pool eu only: open tunnels get 30 minutes, tenants that may fail over use other pools.",
            ),
        ],
    ),
    (
        "cloudgate-sp-maintenance-off",
        &[(
            "cloudgate sp maintenance off --pool eu",
            "Pool eu accepts tunnels again.",
        )],
    ),
    (
        "cloudgate-sp-maintenance-status",
        &[(
            "cloudgate sp maintenance status --json",
            "The maintenance in force, for a script.",
        )],
    ),
    (
        "cloudgate-sp-audit-verify",
        &[(
            "cloudgate sp audit verify || mail -s 'audit tampered' root < /dev/null",
            "From cron: say when an entry was removed, edited or moved.",
        )],
    ),
    (
        "cloudgate-tenant-provider-add",
        &[
            (
                "cloudgate tenant provider add backup.example.com --username globex --thumbprint 'Thumbprint: 6573…'",
                "Pin after checking the thumbprint (a copied Summary line works).",
            ),
            (
                "CLOUDGATE_THUMBPRINT=6573… cloudgate tenant provider add backup.example.com --username globex --password-file pw.txt",
                "Non-interactive, thumbprint from the environment.",
            ),
            (
                "cloudgate tenant provider add backup.example.com --username globex --trust ca+pin",
                "A CA-issued certificate: the chain must validate and its key stays pinned.",
            ),
        ],
    ),
    (
        "cloudgate-tenant-provider-list",
        &[(
            "cloudgate tenant provider list",
            "Every provider and its pin.",
        )],
    ),
    (
        "cloudgate-tenant-provider-show",
        &[(
            "cloudgate tenant provider show backup.example.com:6180",
            "One provider.",
        )],
    ),
    (
        "cloudgate-tenant-provider-refresh",
        &[(
            "cloudgate tenant provider refresh sp --thumbprint 9B2C…",
            "Pin a new certificate the SP told you about.",
        )],
    ),
    (
        "cloudgate-tenant-provider-remove",
        &[(
            "cloudgate tenant provider remove sp",
            "Forget a provider and this machine's key for it.",
        )],
    ),
    (
        "cloudgate-tenant-check",
        &[(
            "cloudgate tenant check sp --json",
            "Monitoring: reachable, pinned, enrolled.",
        )],
    ),
    (
        "cloudgate-tenant-tunnel",
        &[(
            "cloudgate tenant tunnel sp repo --listen 10001",
            "Serve the SP's repo on 127.0.0.1:10001.",
        )],
    ),
    (
        "cloudgate-tenant-tunnels-run",
        &[(
            "cloudgate tenant tunnels run --config /etc/cloudgate/tunnels.toml",
            "Run every configured tunnel as a service.",
        )],
    ),
    (
        "cloudgate-demo",
        &[(
            "cloudgate demo",
            "SP certificate, gateway, tenant, a tunnel and a refused impostor, on loopback; leaves nothing behind.",
        )],
    ),
    (
        "cloudgate-completions",
        &[(
            "cloudgate completions bash > /usr/share/bash-completion/completions/cloudgate",
            "Install bash completion.",
        )],
    ),
    (
        "cloudgate-man",
        &[(
            "cloudgate man --dir /usr/local/share/man/man1",
            "Install every manual page.",
        )],
    ),
];
