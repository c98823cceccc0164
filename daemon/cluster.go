package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ynagw/ynagw/config"
	"github.com/ynagw/ynagw/sip"
	"github.com/ynagw/ynagw/store"
	"go.uber.org/zap"
)

// Store drivers of Options.StoreDriver (config.StoreSQLite / config.StorePostgres).
const (
	driverSQLite   = "sqlite"
	driverPostgres = "postgres"
)

// clustered reports whether the daemon runs as one node of a cluster (postgres store).
func (d *Daemon) clustered() bool { return d.leases != nil }

// nodeID is this node's id in clustered mode, "" otherwise.
func (d *Daemon) nodeID() string {
	if !d.clustered() {
		return ""
	}
	return d.opts.Cluster.NodeID
}

// openStore opens the configured store: SQLite under the state directory's lock, or
// PostgreSQL (no lock: the nodes share it; line leases take its place).
func (d *Daemon) openStore(ctx context.Context) error {
	o := d.opts
	if o.StoreDriver != driverPostgres {
		var err error
		if d.lock, err = lockStore(o.StorePath); err != nil {
			return err
		}
		st, err := store.OpenSQLite(ctx, o.StorePath, o.StoreKey)
		if err != nil {
			return fmt.Errorf("daemon: store %s: %w", o.StorePath, err)
		}
		d.store = st
		return nil
	}
	if o.Cluster.NodeID == "" {
		return fmt.Errorf("daemon: clustered mode (postgres store) needs a node id")
	}
	pg, err := store.OpenPostgres(ctx, o.StoreDSN, o.StoreKey)
	if err != nil {
		return fmt.Errorf("daemon: postgres store: %w", err)
	}
	d.store, d.pg = pg, pg
	return nil
}

// startCluster builds the lease manager once the gateway exists (clustered mode).
func (d *Daemon) startCluster() {
	m := newLeaseManager(d.pg, d.gw, d.opts.Cluster, d.log.Named("cluster"))
	m.onOwned = d.metrics.LineOwned
	m.onError = d.metrics.LeaseError
	m.onLines = d.syncLines
	m.onTakeover = d.takeoverOrphans
	d.leases = m
	d.tokens.owns = m.Owns
	d.tokens.reload = d.pg.GetLine
}

// syncLines follows the lines other nodes linked, refreshed or unlinked: the token cache
// takes the newer rows, and a linked line the gateway does not know yet is added (no
// channel: the lease manager opens it if this node takes the line).
func (d *Daemon) syncLines(ctx context.Context, ls []store.Line) {
	for _, l := range ls {
		changed := d.tokens.adopt(l)
		if l.State != store.LineLinked || l.AccessToken == "" {
			continue
		}
		if changed {
			if err := d.gw.AddLine(ctx, l.MSISDN, l.AccessToken); err != nil {
				d.log.Warn("cluster: cannot add a line linked on another node", zap.String("line", l.MSISDN), zap.Error(err))
			}
		}
	}
}

// takeoverOrphans ends, in the background, the open calls of a node that stopped
// renewing its leases: their network calls would stay up with nobody to end them (their
// notifications now reach this node's channel, which knows nothing of them). One run per
// dead node at a time.
func (d *Daemon) takeoverOrphans(prev, line string) {
	d.mu.Lock()
	if d.orphanRuns == nil {
		d.orphanRuns = map[string]bool{}
	}
	if d.orphanRuns[prev] || d.closed {
		d.mu.Unlock()
		return
	}
	d.orphanRuns[prev] = true
	d.mu.Unlock()
	d.log.Warn("line taken from a node that stopped renewing: ending its calls", zap.String("node", prev), zap.String("line", line))
	d.goOwned(func() {
		defer func() {
			d.mu.Lock()
			delete(d.orphanRuns, prev)
			d.mu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(d.ctx, time.Minute)
		defer cancel()
		d.endOrphansOf(ctx, prev, ReasonNodeLost)
	})
}

// sipRegistrations is the SIP registrar's shared binding store on PostgreSQL: any node
// can ring a phone registered through another (through the proxy: the binding's Path
// is the Route set).
type sipRegistrations struct{ pg *store.Postgres }

var _ sip.RegistrationStore = sipRegistrations{}

func (r sipRegistrations) Put(ctx context.Context, c sip.Contact) error {
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("daemon: registration: %w", err)
	}
	return r.pg.PutRegistration(ctx, store.Registration{User: c.User, URI: c.URI, Node: c.Node, Binding: b, Expires: c.Expires})
}

func (r sipRegistrations) Delete(ctx context.Context, user, uri string) error {
	return r.pg.DeleteRegistration(ctx, user, uri)
}

func (r sipRegistrations) Lookup(ctx context.Context, user string) ([]sip.Contact, error) {
	rs, err := r.pg.LookupRegistrations(ctx, user)
	if err != nil {
		return nil, err
	}
	out := make([]sip.Contact, 0, len(rs))
	for _, x := range rs {
		var c sip.Contact
		if err := json.Unmarshal(x.Binding, &c); err != nil {
			continue // a binding this version cannot read: as if absent
		}
		out = append(out, c)
	}
	return out, nil
}

// checkConfiguredStore is Preflight's store check for the configured driver.
func checkConfiguredStore(ctx context.Context, c *config.Config, key []byte) error {
	if c.Store.Driver == config.StorePostgres {
		return checkPostgres(ctx, c, key)
	}
	return checkStore(ctx, c.Store.Path, key)
}

// checkPostgres reports, as a field error, why OpenPostgres(dsn, key) would fail: the
// server does not answer (or refuses us), the schema is newer, or another key.
func checkPostgres(ctx context.Context, c *config.Config, key []byte) error {
	field := "store.dsn"
	switch {
	case c.Store.DSNFile != "":
		field = "store.dsn_file"
	case c.Store.DSNEnv != "":
		field = "store.dsn_env"
	}
	switch err := store.CheckPostgres(ctx, c.Store.DSN, key); {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrBadKey):
		return &config.FieldError{Path: "store.key", Msg: "the postgres database was created with another key; use that key on every node"}
	case errors.Is(err, store.ErrSchemaTooNew):
		return &config.FieldError{Path: field, Msg: fmt.Sprintf("the database was written by a newer ynagw (%v); run that version", err)}
	default:
		return &config.FieldError{Path: field, Msg: fmt.Sprintf("cannot use the postgres database: %v", err)}
	}
}
