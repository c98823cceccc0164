package store

import (
	"context"
	"errors"
	"time"
)

// Errors returned by Store implementations; test with errors.Is.
var (
	// ErrNotFound: no line / call with that key.
	ErrNotFound = errors.New("store: not found")
	// ErrExists: OpenCall with an ID that is already stored.
	ErrExists = errors.New("store: already exists")
	// ErrAlreadyClosed: CloseCall on a call whose end is already recorded.
	ErrAlreadyClosed = errors.New("store: call already closed")
	// ErrInvalid: a record failed validation (empty key, unknown state/direction, ...).
	ErrInvalid = errors.New("store: invalid record")
	// ErrBadKey: the token encryption key does not match the one the data was
	// written with (or a ciphertext was tampered with).
	ErrBadKey = errors.New("store: wrong token encryption key or corrupted ciphertext")
	// ErrKeyFormat: ParseKey got something that is not 32 bytes of hex or base64.
	ErrKeyFormat = errors.New("store: token key must be 32 bytes, hex or base64 encoded")
	// ErrSchemaTooNew: the database was migrated by a newer ynagw than this one.
	ErrSchemaTooNew = errors.New("store: database schema is newer than this binary")
	// ErrClosed: the store has been closed.
	ErrClosed = errors.New("store: closed")
	// ErrNodeInUse: Heartbeat for a node id another live process sends heartbeats for.
	ErrNodeInUse = errors.New("store: cluster node id in use by another running process")
)

// Line states.
const (
	LineLinked      = "linked"
	LineNeedsRelink = "needs_relink"
	LineUnlinked    = "unlinked"
)

// Call directions.
const (
	Outbound = "outbound" // SIP phone → YNA → PSTN
	Inbound  = "inbound"  // PSTN → YNA → SIP phone
)

// Line is one T-Mobile line (MSISDN) linked via OAuth. The YNA channel URL is a
// short-lived capability and is deliberately not persisted.
type Line struct {
	MSISDN       string
	AccessToken  string // encrypted at rest; "" stores NULL
	RefreshToken string // encrypted at rest; "" stores NULL
	ExpiresAt    time.Time
	State        string // LineLinked, LineNeedsRelink or LineUnlinked
	Reason       string // why the line left LineLinked (MarkNeedsRelink); free text
	LinkedAt     time.Time
	UpdatedAt    time.Time
}

// Stats are a call's media counters. They only grow, so a zero value never
// overwrites a stored non-zero one.
type Stats struct {
	PacketsSIPIn, PacketsSIPOut uint64 // RTP on the SIP leg
	PacketsNetIn, PacketsNetOut uint64 // RTP on the YNA (WebRTC) leg
	LostSIP, LostNet            uint64
}

// CDR is one call detail record. Zero times mean "not happened (yet)"; EndAt zero
// means the call is open.
type CDR struct {
	ID        string // caller-chosen unique id (e.g. a UUID)
	Direction string // Outbound or Inbound
	Line      string // MSISDN
	SIPCallID string
	YNACallID string
	From, To  string
	SetupAt   time.Time
	AnswerAt  time.Time
	EndAt     time.Time
	Result    string // e.g. "answered", "busy", "no_answer", "cancelled", "failed", "orphaned"
	EndReason string // free text / Reason header
	SIPCode   int    // final SIP status (200, 486, ...)
	Node      string // the ynagw node that handled the call (clustered mode); "" for one process
	Stats
}

// Open reports whether the call's end has not been recorded.
func (c CDR) Open() bool { return c.EndAt.IsZero() }

// CallEnd is what CloseCall records.
type CallEnd struct {
	At      time.Time // zero → now
	Result  string
	Reason  string
	SIPCode int // 0 keeps the stored code
	Stats   Stats
}

// CDRFilter selects CDRs; zero fields do not filter. Results are newest first
// (by SetupAt).
type CDRFilter struct {
	Line      string
	Direction string
	Since     time.Time // SetupAt >= Since
	Until     time.Time // SetupAt < Until
	OpenOnly  bool
	Limit     int // 0 = no limit
}

// Store is ynagw's persistent state. Implementations are safe for concurrent
// use; every mutating method commits (durably) before returning.
type Store interface {
	// PutLine inserts or replaces a line. Zero UpdatedAt becomes now; zero
	// LinkedAt keeps the stored value (or now for a new line); empty State
	// means LineLinked.
	PutLine(ctx context.Context, l Line) error
	// GetLine returns ErrNotFound for an unknown MSISDN.
	GetLine(ctx context.Context, msisdn string) (Line, error)
	// Lines returns all lines ordered by MSISDN.
	Lines(ctx context.Context) ([]Line, error)
	// DeleteLine removes a line (ErrNotFound if absent). CDRs are kept.
	DeleteLine(ctx context.Context, msisdn string) error
	// MarkNeedsRelink sets State=LineNeedsRelink and Reason; tokens are kept
	// (a relink overwrites them). ErrNotFound if absent.
	MarkNeedsRelink(ctx context.Context, msisdn, reason string) error

	// OpenCall records a call at setup (ErrExists for a duplicate ID). Zero
	// SetupAt becomes now. Must return before the call is signalled onwards.
	OpenCall(ctx context.Context, c CDR) error
	// UpdateCall merges c into the stored row: every non-zero field of c
	// (except ID) overwrites, zero fields keep the stored value. Setting
	// AnswerAt here must happen before the 200 OK goes out. ErrNotFound if absent.
	UpdateCall(ctx context.Context, c CDR) error
	// CloseCall records the end of an open call. ErrAlreadyClosed if its end
	// is already recorded, ErrNotFound if absent.
	CloseCall(ctx context.Context, id string, end CallEnd) error
	// GetCall returns one CDR (ErrNotFound if absent).
	GetCall(ctx context.Context, id string) (CDR, error)
	// OpenCalls returns the calls without an end, oldest first: after a
	// restart these are orphans of a crash.
	OpenCalls(ctx context.Context) ([]CDR, error)
	// CDRs returns the CDRs matching f, newest first.
	CDRs(ctx context.Context, f CDRFilter) ([]CDR, error)

	Close() error
}
