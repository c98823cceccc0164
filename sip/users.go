package sip

import (
	"errors"
	"fmt"

	"go.uber.org/zap"
)

// userTable is an immutable snapshot of the desk-phone accounts; SetUsers swaps
// the whole table, so a *User handed out earlier never changes under its holder.
type userTable struct {
	byName map[string]*User // exact username (digest usernames are case-sensitive)
}

func newUserTable(users []User) *userTable {
	t := &userTable{byName: make(map[string]*User, len(users))}
	for i := range users {
		u := users[i]
		t.byName[u.Username] = &u
	}
	return t
}

// validateUsers reports errors in a user list (as Config.Validate does).
func validateUsers(users []User) error {
	var errs []error
	seen := map[string]bool{}
	for i, u := range users {
		if u.Username == "" || u.Password == "" {
			errs = append(errs, fmt.Errorf("users[%d]: username and password required", i))
		}
		if seen[u.Username] {
			errs = append(errs, fmt.Errorf("users[%d]: duplicate username %q", i, u.Username))
		}
		seen[u.Username] = true
	}
	return errors.Join(errs...)
}

// fillUserAORs gives users without AOR the default "sip:<Username>@<domain>".
func fillUserAORs(users []User, domain string) {
	for i := range users {
		if users[i].AOR == "" {
			users[i].AOR = "sip:" + users[i].Username + "@" + domain
		}
	}
}

// SetUsers replaces the desk-phone accounts at run time (e.g. on SIGHUP). users is
// validated like Config.Users (AOR defaults filled in); on error nothing changes.
// Established calls and dialogs are never touched. Registrations of users that
// still exist are kept (a changed password applies from their next REGISTER);
// registrations of removed users are dropped at once. Safe for concurrent use.
func (s *Server) SetUsers(users []User) error {
	us := append([]User(nil), users...)
	fillUserAORs(us, s.cfg.Domain)
	if err := validateUsers(us); err != nil {
		return fmt.Errorf("sip users: %w", err)
	}
	t := newUserTable(us)
	s.usersMu.Lock() // serialises concurrent SetUsers so bindings follow the last table
	defer s.usersMu.Unlock()
	s.users.Store(t)
	s.reg.retainUsers(t)
	s.log.Info("users replaced", zap.Int("users", len(us)))
	return nil
}

func (s *Server) userByName(name string) *User {
	return s.users.Load().byName[name]
}
