package config

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestStoreDriver: driver sqlite stays the default (no cluster settings);
// driver postgres takes its DSN as a secret (env here), defaults the node id
// to the host name, the SIP address to the first listener and the lease TTL
// to 6s; bad values are field errors naming the option.
func TestStoreDriver(t *testing.T) {
	c, err := Parse([]byte(baseYAML(t)), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.Driver != StoreSQLite || c.Cluster.NodeID != "" || c.Cluster.LeaseTTL != 0 {
		t.Fatalf("default store = %+v cluster %+v; want sqlite, no cluster", c.Store, c.Cluster)
	}

	pg := strings.Replace(baseYAML(t), "store:\n", "store:\n  driver: Postgres\n  dsn_env: DSN\n", 1)
	env := func(k string) (string, bool) {
		if k == "DSN" {
			return "postgres://ynagw:pw@127.0.0.1:5432/ynagw", true
		}
		return "", false
	}
	c, err = Parse([]byte(pg), env)
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if c.Store.Driver != StorePostgres || c.Store.DSN != "postgres://ynagw:pw@127.0.0.1:5432/ynagw" ||
		c.Cluster.NodeID != host || c.Cluster.LeaseTTL != 6*time.Second || c.Cluster.SIPAddress == "" {
		t.Fatalf("postgres store = %+v cluster %+v", c.Store, c.Cluster)
	}

	for _, tt := range []struct{ name, yaml, path, text string }{
		{"unknown driver", strings.Replace(baseYAML(t), "store:\n", "store:\n  driver: mysql\n", 1), "store.driver", "not a store driver"},
		{"postgres without dsn", strings.Replace(baseYAML(t), "store:\n", "store:\n  driver: postgres\n", 1), "store.dsn", "required"},
		{"lease too short", strings.Replace(pg, "store:\n", "cluster:\n  lease_ttl: 1s\nstore:\n", 1), "cluster.lease_ttl", "between 3s and 60s"},
		{"bad node id", strings.Replace(pg, "store:\n", "cluster:\n  node_id: \"a b\"\nstore:\n", 1), "cluster.node_id", "white space"},
		{"bad sip address", strings.Replace(pg, "store:\n", "cluster:\n  sip_address: nowhere\nstore:\n", 1), "cluster.sip_address", "not an address"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), env)
			for _, fe := range FieldErrors(err) {
				if fe.Path == tt.path && strings.Contains(fe.Msg, tt.text) {
					return
				}
			}
			t.Fatalf("want a FieldError at %s with %q, got %v", tt.path, tt.text, err)
		})
	}
}
