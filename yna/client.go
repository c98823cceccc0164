package yna

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"
)

// Operation names of the non-calling endpoints, as used in APIError.Op and Config.Observe.
// Calling operations use OpStart, OpHold, ... .
const (
	OpNameToken         = "token"
	OpNameRefresh       = "refreshToken"
	OpNameAccountStatus = "accountStatus"
	OpNameUnlink        = "unlink"
)

// DefaultHTTPTimeout is the per-request timeout of the SDK (§3, §12).
const DefaultHTTPTimeout = 60 * time.Second

// maxResponseBody bounds how much of a response body is read.
const maxResponseBody = 1 << 20

// maxErrorBody bounds APIError.Body.
const maxErrorBody = 4096

// Config configures a Client.
type Config struct {
	// BaseURL is the CPaaS root, e.g. "https://naas.t-mobile.com" (§1); a path prefix is kept.
	BaseURL string
	// ClientID and ClientSecret are the DevEdge application credentials (Basic auth on the
	// token call, client_id on link/unlink).
	ClientID, ClientSecret string
	// Key is the application's RSA key for PoP signing (§4). Required.
	Key *rsa.PrivateKey
	// HTTPClient defaults to a client with DefaultHTTPTimeout that does not follow redirects.
	HTTPClient *http.Client
	// Logger defaults to zap.NewNop().
	Logger *zap.Logger
	// Now is the clock for PoP iat; defaults to time.Now.
	Now func() time.Time
	// StatusRetries is the total number of account-status tries (default DefaultStatusRetries);
	// StatusRetryDelay the pause between them (default DefaultStatusRetryDelay). §5.4.
	StatusRetries    int
	StatusRetryDelay time.Duration
	// Observe, if set, is called after every HTTP exchange (also each retry) with the
	// operation name, HTTP status (0 on transport error), duration and error.
	Observe func(op string, status int, d time.Duration, err error)
}

// Client calls the YNA REST API (§2–§5, §7). It is safe for concurrent use; it holds no
// per-account state (access tokens are passed per call).
type Client struct {
	base    string // BaseURL without trailing slash
	cfg     Config
	signer  *PoPSigner
	hc      *http.Client
	log     *zap.Logger
	observe func(op string, status int, d time.Duration, err error)
}

// NewClient validates cfg and returns a Client.
func NewClient(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("yna: base URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("yna: base URL %q must be http(s)://host", cfg.BaseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("yna: base URL %q must not have a query or fragment", cfg.BaseURL)
	}
	if cfg.Key == nil {
		return nil, errors.New("yna: Config.Key (PoP signing key) is required")
	}
	c := &Client{base: strings.TrimRight(cfg.BaseURL, "/"), cfg: cfg, log: cfg.Logger, observe: cfg.Observe}
	if c.log == nil {
		c.log = zap.NewNop()
	}
	if c.cfg.Now == nil {
		c.cfg.Now = time.Now
	}
	if c.cfg.StatusRetries <= 0 {
		c.cfg.StatusRetries = DefaultStatusRetries
	}
	if c.cfg.StatusRetryDelay <= 0 {
		c.cfg.StatusRetryDelay = DefaultStatusRetryDelay
	}
	c.signer = NewPoPSigner(cfg.Key).WithClock(c.cfg.Now)
	c.hc = cfg.HTTPClient
	if c.hc == nil {
		c.hc = &http.Client{
			Timeout:   DefaultHTTPTimeout,
			Transport: http.DefaultTransport.(*http.Transport).Clone(),
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	return c, nil
}

// CloseIdleConnections closes idle keep-alive connections of the HTTP client.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// LinkURL is where to send the user's browser to link the account (§5.1):
// {base}/cpaas/v1/account-mgmt/linkAccount?client_id=..&redirect_uri=..&state=.. (state
// omitted when empty). Unlike the SDK, redirect_uri is URL-encoded.
func (c *Client) LinkURL(redirectURI, state string) string {
	q := "client_id=" + url.QueryEscape(c.cfg.ClientID) + "&redirect_uri=" + url.QueryEscape(redirectURI)
	if state != "" {
		q += "&state=" + url.QueryEscape(state)
	}
	return c.base + PathLinkAccount + "?" + q
}

// EmergencyAddressURL is the browser form target for changing the E911 address (§5.6);
// failureURL may be empty. The access token must be added by the caller (Authorization
// query or form parameter).
func (c *Client) EmergencyAddressURL(successURL, failureURL string) string {
	q := "success-redirect-url=" + url.QueryEscape(successURL)
	if failureURL != "" {
		q += "&failure-redirect-url=" + url.QueryEscape(failureURL)
	}
	return c.base + PathChangeEmergencyAddress + "?" + q
}

func (c *Client) basicAuth() string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(c.cfg.ClientID+":"+c.cfg.ClientSecret))
}

// ExchangeCode trades the authorization code from the link redirect for tokens (§5.2):
// POST token?grant_type=authorization_code&redirect_uri=<enc>&code=<code>, Basic auth, no body.
func (c *Client) ExchangeCode(ctx context.Context, code, redirectURI string) (*TokenResponse, error) {
	q := "grant_type=authorization_code&redirect_uri=" + url.QueryEscape(redirectURI) + "&code=" + url.QueryEscape(code)
	return c.token(ctx, OpNameToken, q)
}

// RefreshToken asks for new tokens with a refresh token. guess: no refresh grant is
// documented (§5.3); see RefreshGrantType.
func (c *Client) RefreshToken(ctx context.Context, refreshToken string) (*TokenResponse, error) {
	q := "grant_type=" + url.QueryEscape(RefreshGrantType) + "&" + RefreshTokenParam + "=" + url.QueryEscape(refreshToken)
	return c.token(ctx, OpNameRefresh, q)
}

func (c *Client) token(ctx context.Context, op, query string) (*TokenResponse, error) {
	res, err := c.do(ctx, request{
		op: op, method: http.MethodPost, path: PathToken + "?" + query,
		pre: []Header{{HeaderAuthorization, c.basicAuth()}},
	})
	if err != nil {
		return nil, err
	}
	var tr TokenResponse
	if err := decodeData(res.body, &tr); err != nil || tr.AccessToken == "" {
		return nil, res.bad(op, "no access_token in token response")
	}
	return &tr, nil
}

// Lifetime returns expires_in as a duration, DefaultTokenLifetime when absent (§5.2).
func (t *TokenResponse) Lifetime() time.Duration {
	if t.ExpiresIn <= 0 {
		return DefaultTokenLifetime
	}
	return time.Duration(t.ExpiresIn) * time.Second
}

// AccountStatus fetches registration state, lines and the notification channel URL (§5.4).
// 202, 408, 429, 5xx, network errors and a missing channelUrl are retried (StatusRetries
// tries, StatusRetryDelay apart); 401 and other 4xx fail at once. When ctx ends while a
// retry is due (also right after a retryable answer), the error wraps ctx.Err().
func (c *Client) AccountStatus(ctx context.Context, accessToken string) (*AccountStatus, error) {
	var lastErr error
	for try := 1; try <= c.cfg.StatusRetries; try++ {
		if try > 1 {
			t := time.NewTimer(c.cfg.StatusRetryDelay)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, fmt.Errorf("yna: %s: %w (last error: %v)", OpNameAccountStatus, ctx.Err(), lastErr)
			case <-t.C:
			}
		}
		st, err := c.accountStatusOnce(ctx, accessToken)
		if err == nil {
			return st, nil
		}
		lastErr = err
		if !(IsRetryable(err) || errors.Is(err, ErrNoChannelURL)) {
			return nil, err
		}
		if cerr := ctx.Err(); cerr != nil {
			// A retry would follow, but the caller gave up (possibly after
			// this answer came back): report the context's error, as the wait
			// below does.
			if errors.Is(err, cerr) {
				return nil, err
			}
			return nil, fmt.Errorf("yna: %s: %w (last error: %v)", OpNameAccountStatus, cerr, err)
		}
		c.log.Debug("yna: account status not ready, retrying", zap.Int("try", try), zap.Error(err))
	}
	return nil, fmt.Errorf("yna: %s: gave up after %d tries: %w", OpNameAccountStatus, c.cfg.StatusRetries, lastErr)
}

func (c *Client) accountStatusOnce(ctx context.Context, accessToken string) (*AccountStatus, error) {
	res, err := c.do(ctx, request{op: OpNameAccountStatus, method: http.MethodGet, path: PathAccountStatus, bearer: accessToken})
	if err != nil {
		return nil, err
	}
	var st AccountStatus
	derr := decodeData(res.body, &st) // an empty body is normal for 202; judged by channelUrl
	if st.ChannelURL == "" {
		e := res.bad(OpNameAccountStatus, "")
		e.Err = ErrNoChannelURL
		if derr != nil && len(bytes.TrimSpace(res.body)) > 0 {
			e.Err = fmt.Errorf("%w: %v", ErrNoChannelURL, derr)
		}
		if res.status == http.StatusAccepted {
			e.Err = fmt.Errorf("%w (%w)", ErrNotReady, e.Err)
		}
		return nil, e
	}
	return &st, nil
}

// Unlink removes the account link (§5.5): DELETE /account/unlink?client_id=..&redirect_uri=..
// (the SDK's query; redirect_uri omitted when empty). 200 and 204 are success.
func (c *Client) Unlink(ctx context.Context, accessToken, redirectURI string) error {
	q := "client_id=" + url.QueryEscape(c.cfg.ClientID)
	if redirectURI != "" {
		q += "&redirect_uri=" + url.QueryEscape(redirectURI)
	}
	_, err := c.do(ctx, request{op: OpNameUnlink, method: http.MethodDelete, path: PathUnlink + "?" + q, bearer: accessToken})
	return err
}

// Start creates an outbound call (§7, §9.1). An empty ClientCorrelator is filled with a UUID
// v4 (req is not modified). Any 2xx with a callId is success.
func (c *Client) Start(ctx context.Context, accessToken string, req StartRequest) (*StartResponse, error) {
	if req.ClientCorrelator == "" {
		req.ClientCorrelator = uuid.NewString()
	}
	body, err := marshalJSON(req)
	if err != nil {
		return nil, err
	}
	res, err := c.do(ctx, request{op: OpStart, method: http.MethodPost, path: CallPath(OpStart, ""), bearer: accessToken, body: body})
	if err != nil {
		return nil, err
	}
	var sr StartResponse
	if err := decodeData(res.body, &sr); err != nil || sr.CallID == "" {
		return nil, res.bad(OpStart, "no callId in /start response")
	}
	return &sr, nil
}

// postSDP sends {"sdp":...} (or {} when sdp is nil) to a calling operation.
func (c *Client) postSDP(ctx context.Context, op, accessToken, callID string, sdp *string) (*response, error) {
	if callID == "" {
		return nil, fmt.Errorf("yna: %s: empty callId", op)
	}
	body, err := marshalJSON(CallStatusRequest{SDP: sdp})
	if err != nil {
		return nil, err
	}
	return c.do(ctx, request{op: op, method: http.MethodPost, path: CallPath(op, callID), bearer: accessToken, body: body})
}

// InProgress acknowledges an incoming call (§9.2). The normal path sends {"sdp":""}
// (pass a pointer to ""); nil sends {} (offer-less path, §9.3).
func (c *Client) InProgress(ctx context.Context, accessToken, callID string, sdp *string) error {
	_, err := c.postSDP(ctx, OpInProgress, accessToken, callID, sdp)
	return err
}

// Ringing reports alerting of an incoming call: POST without a body (§7).
func (c *Client) Ringing(ctx context.Context, accessToken, callID string) error {
	if callID == "" {
		return fmt.Errorf("yna: %s: empty callId", OpRinging)
	}
	_, err := c.do(ctx, request{op: OpRinging, method: http.MethodPost, path: CallPath(OpRinging, callID), bearer: accessToken})
	return err
}

// Proceeding answers an offer carried by a Proceeding/183 notification (§9.8).
func (c *Client) Proceeding(ctx context.Context, accessToken, callID, sdp string) error {
	_, err := c.postSDP(ctx, OpProceeding, accessToken, callID, &sdp)
	return err
}

// Connected answers an incoming call or a network re-offer with sdp (§9.2, §9.6); nil sends
// {}. The returned result is whatever the 200 body held (empty if none); in the offer-less
// path (§9.3) its SDP is the network's answer.
func (c *Client) Connected(ctx context.Context, accessToken, callID string, sdp *string) (*SDPResult, error) {
	res, err := c.postSDP(ctx, OpConnected, accessToken, callID, sdp)
	if err != nil {
		return nil, err
	}
	r := parseSDPResult(res.body)
	if r == nil {
		r = &SDPResult{}
	}
	return r, nil
}

// Hold puts the call on hold with offer (a=sendonly/inactive); the answer SDP comes from
// the 200 body: flat {status, sdp}, inside "data", or inside receiverSessionStatus (§9.4).
// A 2xx without an answer is an *APIError wrapping ErrBadResponse (the SDK rolls back).
func (c *Client) Hold(ctx context.Context, accessToken, callID, offer string) (*SDPResult, error) {
	return c.offerAnswer(ctx, OpHold, accessToken, callID, offer)
}

// Resume resumes a held call with offer (a=sendrecv); the answer is taken as for Hold.
func (c *Client) Resume(ctx context.Context, accessToken, callID, offer string) (*SDPResult, error) {
	return c.offerAnswer(ctx, OpResume, accessToken, callID, offer)
}

func (c *Client) offerAnswer(ctx context.Context, op, accessToken, callID, offer string) (*SDPResult, error) {
	res, err := c.postSDP(ctx, op, accessToken, callID, &offer)
	if err != nil {
		return nil, err
	}
	r := parseSDPResult(res.body)
	if r == nil || r.SDP == "" {
		return nil, res.bad(op, "no answer SDP in 200 body")
	}
	return r, nil
}

// AcceptHold answers a remote hold offer (§9.5).
func (c *Client) AcceptHold(ctx context.Context, accessToken, callID, answer string) error {
	_, err := c.postSDP(ctx, OpAcceptHold, accessToken, callID, &answer)
	return err
}

// AcceptResume answers a remote resume offer (§9.5).
func (c *Client) AcceptResume(ctx context.Context, accessToken, callID, answer string) error {
	_, err := c.postSDP(ctx, OpAcceptResume, accessToken, callID, &answer)
	return err
}

// Renegotiate sends sdp to /renegotiate (documented, never used by the SDK, §7).
func (c *Client) Renegotiate(ctx context.Context, accessToken, callID, sdp string) error {
	_, err := c.postSDP(ctx, OpRenegotiate, accessToken, callID, &sdp)
	return err
}

// Update sends sdp to the undocumented /update (SDK: video changes, §7).
func (c *Client) Update(ctx context.Context, accessToken, callID, sdp string) error {
	_, err := c.postSDP(ctx, OpUpdate, accessToken, callID, &sdp)
	return err
}

// End ends a call: DELETE /end/{callId} with headers Conference ("true"/"false") and Reason
// (ReasonNormalUserDisconnect when empty) (§7, §9.7).
func (c *Client) End(ctx context.Context, accessToken, callID string, reason string, conference bool) error {
	if callID == "" {
		return fmt.Errorf("yna: %s: empty callId", OpEnd)
	}
	if reason == "" {
		reason = ReasonNormalUserDisconnect
	}
	conf := "false"
	if conference {
		conf = "true"
	}
	_, err := c.do(ctx, request{
		op: OpEnd, method: http.MethodDelete, path: CallPath(OpEnd, callID), bearer: accessToken,
		pre: []Header{{HeaderConference, conf}, {HeaderReason, reason}},
	})
	return err
}

// request describes one REST exchange.
type request struct {
	op     string
	method string
	path   string   // path (under base) plus ?query, exactly as to be sent
	pre    []Header // caller-supplied headers, signed first (§4.1)
	bearer string   // access token; "" = no bearer (token call)
	body   []byte   // nil = no body
}

type response struct {
	status int
	txnID  string
	body   []byte
}

// bad builds an APIError for a 2xx response lacking needed data.
func (r *response) bad(op, msg string) *APIError {
	e := &APIError{Op: op, HTTPStatus: r.status, TransactionID: r.txnID, Body: truncate(r.body), Err: ErrBadResponse}
	if msg != "" {
		e.Err = fmt.Errorf("%w: %s", ErrBadResponse, msg)
	}
	return e
}

// do signs and sends one request; non-2xx statuses become *APIError.
func (c *Client) do(ctx context.Context, rq request) (res *response, err error) {
	start := time.Now()
	status := 0
	defer func() {
		if c.observe != nil {
			c.observe(rq.op, status, time.Since(start), err)
		}
	}()
	if rq.method != http.MethodPost && rq.method != http.MethodGet && rq.method != http.MethodDelete {
		return nil, fmt.Errorf("yna: %s: unsupported method %s", rq.op, rq.method)
	}
	if rq.bearer == "" && rq.op != OpNameToken && rq.op != OpNameRefresh {
		return nil, fmt.Errorf("yna: %s: empty access token: %w", rq.op, ErrUnauthorized)
	}
	var bodyReader io.Reader = http.NoBody
	if rq.body != nil {
		bodyReader = bytes.NewReader(rq.body)
	}
	req, err := http.NewRequestWithContext(ctx, rq.method, c.base+rq.path, bodyReader)
	if err != nil {
		return nil, fmt.Errorf("yna: %s: build request: %w", rq.op, err)
	}
	txn := uuid.NewString()
	// Header order per §4.1/§4.2: caller headers, Content-Type (POST), Accept, bearer, X-Transaction-Id.
	hs := append([]Header(nil), rq.pre...)
	if rq.method == http.MethodPost {
		hs = append(hs, Header{HeaderContentType, ContentTypeJSON})
	}
	hs = append(hs, Header{HeaderAccept, ContentTypeJSON})
	if rq.bearer != "" {
		hs = append(hs, Header{HeaderAuthorization, "Bearer " + rq.bearer})
	}
	hs = append(hs, Header{HeaderTransactionID, txn})
	for _, h := range hs {
		req.Header[h.Name] = []string{h.Value} // keep the SDK's spelling on the wire
	}
	pop, err := c.signer.Sign(rq.method, req.URL.RequestURI(), hs, rq.body)
	if err != nil {
		return nil, fmt.Errorf("yna: %s: %w", rq.op, err)
	}
	req.Header[HeaderPoP] = []string{pop}

	resp, err := c.hc.Do(req)
	if err != nil {
		c.log.Debug("yna: request failed", zap.String("op", rq.op), zap.String("txn", txn), zap.Error(err))
		return nil, fmt.Errorf("yna: %s: %w", rq.op, err)
	}
	defer resp.Body.Close()
	status = resp.StatusCode
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	c.log.Debug("yna: response", zap.String("op", rq.op), zap.String("method", rq.method),
		zap.String("path", req.URL.Path), zap.Int("status", status), zap.String("txn", txn),
		zap.Duration("took", time.Since(start)))
	if status < 200 || status > 299 {
		return nil, newAPIError(rq.op, status, txn, body)
	}
	if rerr != nil {
		return nil, fmt.Errorf("yna: %s: read body: %w", rq.op, rerr)
	}
	return &response{status: status, txnID: txn, body: body}, nil
}

// newAPIError builds an APIError from a non-2xx response, parsing the §3 error body if present.
func newAPIError(op string, status int, txn string, body []byte) *APIError {
	e := &APIError{Op: op, HTTPStatus: status, TransactionID: txn, Body: truncate(body)}
	var eb ErrorBody
	if json.Unmarshal(body, &eb) == nil && len(eb.Errors) > 0 {
		e.ReasonCode, e.SystemMessage, e.UserMessage = eb.Errors[0].ReasonCode, eb.Errors[0].SystemMessage, eb.Errors[0].UserMessage
	} else if m := unwrapData(body); m != nil && json.Unmarshal(m, &eb) == nil && len(eb.Errors) > 0 {
		e.ReasonCode, e.SystemMessage, e.UserMessage = eb.Errors[0].ReasonCode, eb.Errors[0].SystemMessage, eb.Errors[0].UserMessage
	}
	return e
}

func truncate(b []byte) string {
	if len(b) > maxErrorBody {
		return string(b[:maxErrorBody]) + "…"
	}
	return string(b)
}

// marshalJSON encodes v without HTML escaping and without the trailing newline.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("yna: marshal: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// TolerantJSON returns b, or, if b is not valid JSON, b with raw control characters
// (U+0000–U+001F, e.g. literal CR/LF of SDP inside strings) escaped as \u00XX (§6.3, §15).
func TolerantJSON(b []byte) []byte {
	if json.Valid(b) {
		return b
	}
	var out bytes.Buffer
	out.Grow(len(b) + 32)
	for _, ch := range b {
		if ch < 0x20 {
			fmt.Fprintf(&out, `\u%04x`, ch)
			continue
		}
		out.WriteByte(ch)
	}
	return out.Bytes()
}

// unwrapData returns the top-level "data" member if b is an object that has one (§3).
func unwrapData(b []byte) json.RawMessage {
	var top map[string]json.RawMessage
	if json.Unmarshal(b, &top) != nil {
		return nil
	}
	d, ok := top["data"]
	d = bytes.TrimSpace(d)
	if !ok || len(d) == 0 || d[0] != '{' {
		return nil // only an object member replaces the body
	}
	return d
}

// decodeData decodes a 2xx body into v tolerantly: control characters escaped, and the
// top-level "data" member used if present (§3).
func decodeData(body []byte, v any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return errors.New("empty body")
	}
	body = TolerantJSON(body)
	if d := unwrapData(body); d != nil {
		body = d
	}
	return json.Unmarshal(body, v)
}

// parseSDPResult extracts status and SDP from a 2xx body: flat, in "data", or in
// receiverSessionStatus. The flat sdp wins; SDP/Status fall back to the nested ones.
// Returns nil for an empty or unparsable body.
func parseSDPResult(body []byte) *SDPResult {
	var r SDPResult
	if decodeData(body, &r) != nil {
		return nil
	}
	if r.ReceiverSessionStatus != nil {
		if r.SDP == "" {
			r.SDP = r.ReceiverSessionStatus.SDP
		}
		if r.Status == "" {
			r.Status = r.ReceiverSessionStatus.Status
		}
	}
	return &r
}
