package admin

import (
	"context"
	"errors"
	"net/url"
	"sync"
	"time"
)

// fakeBackend is a Backend for handler tests.
type fakeBackend struct {
	mu        sync.Mutex
	lines     []LineView
	phones    []PhoneView
	calls     []CallView
	ready     error
	linkErr   error
	codes     []string // codes passed to CompleteLink
	redirects []string // redirect URIs passed to CompleteLink
	unlinked  []string
	e911      []string // success,failure pairs
}

const fakeYNA = "https://yna.example.test"

func (f *fakeBackend) Lines(context.Context) []LineView {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]LineView(nil), f.lines...)
}

func (f *fakeBackend) Phones(context.Context) []PhoneView {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]PhoneView(nil), f.phones...)
}

func (f *fakeBackend) Calls(context.Context) []CallView {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]CallView(nil), f.calls...)
}

func (f *fakeBackend) LinkURL(redirectURI, state string) string {
	return fakeYNA + "/cpaas/v1/account-mgmt/linkAccount?client_id=app&redirect_uri=" +
		url.QueryEscape(redirectURI) + "&state=" + url.QueryEscape(state)
}

func (f *fakeBackend) CompleteLink(_ context.Context, code, redirectURI string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.codes = append(f.codes, code)
	f.redirects = append(f.redirects, redirectURI)
	if f.linkErr != nil {
		return "", f.linkErr
	}
	f.lines = append(f.lines, LineView{MSISDN: "14255550100", State: LineLinked, Channel: "connected"})
	return "14255550100", nil
}

func (f *fakeBackend) Unlink(_ context.Context, msisdn string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, l := range f.lines {
		if l.MSISDN == msisdn {
			f.lines = append(f.lines[:i], f.lines[i+1:]...)
			f.unlinked = append(f.unlinked, msisdn)
			return nil
		}
	}
	return errors.New("no such line")
}

func (f *fakeBackend) EmergencyAddressURL(_ context.Context, msisdn, success, failure string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.e911 = append(f.e911, success, failure)
	return fakeYNA + "/cpaas/v1/account-mgmt/changeEmergencyAddress?Authorization=SECRET-" + msisdn +
		"&success-redirect-url=" + url.QueryEscape(success), nil
}

func (f *fakeBackend) Ready(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ready
}

func (f *fakeBackend) setReady(err error) {
	f.mu.Lock()
	f.ready = err
	f.mu.Unlock()
}

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
