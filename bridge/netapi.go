package bridge

import (
	"context"
	"errors"
	"fmt"

	"github.com/ynagw/ynagw/yna"
	"go.uber.org/zap"
)

// netAPI is what a call uses of the YNA calling API. Every request names the line: the
// implementation asks the TokenSource for the line's token at that moment (never a copy
// taken at setup), so a call that outlives its token uses the renewed one. A 401 gets one
// refresh and one retry (tokenAPI).
type netAPI interface {
	Start(ctx context.Context, line string, req yna.StartRequest) (*yna.StartResponse, error)
	InProgress(ctx context.Context, line, callID string) error
	Ringing(ctx context.Context, line, callID string) error
	// Connected answers an invitation or a network re-offer with sdp.
	Connected(ctx context.Context, line, callID, sdp string) error
	// Hold and Resume send our re-offer and return the network's answer.
	Hold(ctx context.Context, line, callID, offer string) (string, error)
	Resume(ctx context.Context, line, callID, offer string) (string, error)
	AcceptHold(ctx context.Context, line, callID, answer string) error
	AcceptResume(ctx context.Context, line, callID, answer string) error
	End(ctx context.Context, line, callID string) error
}

// TokenRefresher is an optional TokenSource extension. When the network refuses a line's
// token (HTTP 401: expired early, revoked, forgotten), the gateway calls
// RefreshAccessToken once with the refused token and retries the request once with the
// token it returns. Calls of one line may do this at the same time: an implementation
// refreshes once and hands the new token to every caller that refused the same one.
//
// MarkNeedsRelink is called when the line cannot get a token the network takes: the
// refresh was refused (not a transient failure), or the network refused the fresh token
// too. The implementation records it (store, ynagw_line_needs_relink, admin page,
// /readyz) and logs it once; AccessToken then fails for the line until it is relinked.
type TokenRefresher interface {
	RefreshAccessToken(ctx context.Context, line, refused string) (string, error)
	MarkNeedsRelink(ctx context.Context, line, reason string)
}

// ErrLineNotLinked wraps the TokenSource's error for a line without a usable token.
var ErrLineNotLinked = errors.New("bridge: YNA line not linked")

// ynaClient is the yna.Client as tokenAPI uses it (a fake in unit tests).
type ynaClient interface {
	Start(ctx context.Context, accessToken string, req yna.StartRequest) (*yna.StartResponse, error)
	InProgress(ctx context.Context, accessToken, callID string, sdp *string) error
	Ringing(ctx context.Context, accessToken, callID string) error
	Connected(ctx context.Context, accessToken, callID string, sdp *string) (*yna.SDPResult, error)
	Hold(ctx context.Context, accessToken, callID, offer string) (*yna.SDPResult, error)
	Resume(ctx context.Context, accessToken, callID, offer string) (*yna.SDPResult, error)
	AcceptHold(ctx context.Context, accessToken, callID, answer string) error
	AcceptResume(ctx context.Context, accessToken, callID, answer string) error
	End(ctx context.Context, accessToken, callID string, reason string, conference bool) error
}

var _ ynaClient = (*yna.Client)(nil)

// tokenAPI is the production netAPI: a yna.Client and the line's current token.
type tokenAPI struct {
	c      ynaClient
	tokens TokenSource
	log    *zap.Logger
}

var _ netAPI = (*tokenAPI)(nil)

// with runs f with the line's current token; after a 401 it refreshes the token once
// and runs f once more.
func (a *tokenAPI) with(ctx context.Context, line string, f func(token string) error) error {
	tok, err := a.tokens.AccessToken(ctx, line)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrLineNotLinked, err)
	}
	err = f(tok)
	if !errors.Is(err, yna.ErrUnauthorized) {
		return err
	}
	r, ok := a.tokens.(TokenRefresher)
	if !ok {
		return err
	}
	fresh, rerr := r.RefreshAccessToken(ctx, line, tok)
	if rerr != nil {
		if !yna.IsRetryable(rerr) {
			r.MarkNeedsRelink(ctx, line, "token refresh refused: "+rerr.Error())
		}
		return fmt.Errorf("%w (token refresh failed: %v)", err, rerr)
	}
	a.log.Info("YNA token refused; retrying with a refreshed token", zap.String("line", line))
	err = f(fresh)
	if errors.Is(err, yna.ErrUnauthorized) {
		r.MarkNeedsRelink(ctx, line, "YNA refused a refreshed token: "+err.Error())
	}
	return err
}

func (a *tokenAPI) Start(ctx context.Context, line string, req yna.StartRequest) (res *yna.StartResponse, err error) {
	err = a.with(ctx, line, func(tok string) (e error) { res, e = a.c.Start(ctx, tok, req); return e })
	return res, err
}

func (a *tokenAPI) InProgress(ctx context.Context, line, callID string) error {
	empty := ""
	return a.with(ctx, line, func(tok string) error { return a.c.InProgress(ctx, tok, callID, &empty) })
}

func (a *tokenAPI) Ringing(ctx context.Context, line, callID string) error {
	return a.with(ctx, line, func(tok string) error { return a.c.Ringing(ctx, tok, callID) })
}

func (a *tokenAPI) Connected(ctx context.Context, line, callID, sdp string) error {
	return a.with(ctx, line, func(tok string) error { _, e := a.c.Connected(ctx, tok, callID, &sdp); return e })
}

func (a *tokenAPI) Hold(ctx context.Context, line, callID, offer string) (ans string, err error) {
	err = a.with(ctx, line, func(tok string) error {
		r, e := a.c.Hold(ctx, tok, callID, offer)
		ans = r.AnswerSDP()
		return e
	})
	return ans, err
}

func (a *tokenAPI) Resume(ctx context.Context, line, callID, offer string) (ans string, err error) {
	err = a.with(ctx, line, func(tok string) error {
		r, e := a.c.Resume(ctx, tok, callID, offer)
		ans = r.AnswerSDP()
		return e
	})
	return ans, err
}

func (a *tokenAPI) AcceptHold(ctx context.Context, line, callID, answer string) error {
	return a.with(ctx, line, func(tok string) error { return a.c.AcceptHold(ctx, tok, callID, answer) })
}

func (a *tokenAPI) AcceptResume(ctx context.Context, line, callID, answer string) error {
	return a.with(ctx, line, func(tok string) error { return a.c.AcceptResume(ctx, tok, callID, answer) })
}

func (a *tokenAPI) End(ctx context.Context, line, callID string) error {
	return a.with(ctx, line, func(tok string) error { return a.c.End(ctx, tok, callID, "", false) })
}
