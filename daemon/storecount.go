package daemon

import (
	"context"
	"errors"

	"github.com/ynagw/ynagw/store"
)

// lineStoreCounter is the store as the token store sees it: failed line writes count in
// ynagw_store_errors_total{op="line"} (invalid records and unknown lines aside).
type lineStoreCounter struct {
	store.Store
	onErr func(op string)
}

func (s lineStoreCounter) count(err error) error {
	if err != nil && s.onErr != nil && !errors.Is(err, store.ErrInvalid) && !errors.Is(err, store.ErrNotFound) {
		s.onErr("line")
	}
	return err
}

// PutLine implements store.Store.
func (s lineStoreCounter) PutLine(ctx context.Context, l store.Line) error {
	return s.count(s.Store.PutLine(ctx, l))
}

// MarkNeedsRelink implements store.Store.
func (s lineStoreCounter) MarkNeedsRelink(ctx context.Context, msisdn, reason string) error {
	return s.count(s.Store.MarkNeedsRelink(ctx, msisdn, reason))
}

// DeleteLine implements store.Store.
func (s lineStoreCounter) DeleteLine(ctx context.Context, msisdn string) error {
	return s.count(s.Store.DeleteLine(ctx, msisdn))
}
