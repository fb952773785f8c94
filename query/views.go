package query

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tracehouse/tracehouse/storage/reader"
)

// ViewReader reads the saved views.
type ViewReader interface {
	ListViews(ctx context.Context, limit int) ([]reader.SavedView, error)
	GetView(ctx context.Context, id string) (reader.SavedView, bool, error)
	CountViews(ctx context.Context) (uint64, error)
}

// ViewWriter stores them (storage/writer.Views).
type ViewWriter interface {
	SaveView(ctx context.Context, id, name, route, owner string, created, at time.Time) error
	DeleteView(ctx context.Context, id string, at time.Time) error
}

// Limits of saved views.
const (
	MaxViewName  = 200
	MaxViewRoute = 8192
	// MaxViews caps the saved views: each is listed on every open of the
	// list, and a script must not fill the table.
	MaxViews = 1000
)

// viewRoutes are the UI pages a view may open (web/README.md): a route is
// the part of the UI's URL after '#'.
var viewRoutes = []string{"/search", "/trace/", "/compare", "/map", "/services", "/service/", "/logs"}

// SavedView is a named UI route.
type SavedView = reader.SavedView

// ViewInput is what a user saves.
type ViewInput struct {
	// ID, when set, replaces that view (a new version of it).
	ID    string
	Name  string
	Route string
	// Owner is the user the request's credentials name; "" when they name
	// none (the shared --auth-token, or no token; named tokens come from
	// --auth-tokens-file, see query/api.NamedToken).
	Owner string
}

func checkViewID(id string) error {
	if len(id) != 16 {
		return inputError("id", "a view id is 16 hexadecimal digits, not %q", id)
	}
	if _, err := hex.DecodeString(id); err != nil {
		return inputError("id", "a view id is 16 hexadecimal digits, not %q", id)
	}
	return nil
}

func checkViewInput(in ViewInput) error {
	name := strings.TrimSpace(in.Name)
	switch {
	case name == "":
		return inputError("name", "give the view a name")
	case utf8.RuneCountInString(name) > MaxViewName:
		return inputError("name", "the name is %d characters long; the limit is %d", utf8.RuneCountInString(name), MaxViewName)
	case !utf8.ValidString(name) || strings.IndexFunc(name, unicode.IsControl) >= 0:
		return inputError("name", "the name holds invalid UTF-8 or control characters")
	}
	r := in.Route
	switch {
	case r == "":
		return inputError("route", "give the route to save: the part of the UI's URL after '#', e.g. /logs?q=level:error")
	case len(r) > MaxViewRoute:
		return inputError("route", "the route is %d bytes long; the limit is %d", len(r), MaxViewRoute)
	case !utf8.ValidString(r) || strings.IndexFunc(r, unicode.IsControl) >= 0:
		return inputError("route", "the route holds invalid UTF-8 or control characters")
	}
	path, _, _ := strings.Cut(r, "?")
	for _, p := range viewRoutes {
		// "/trace/" takes an id after it; "/logs" is the page itself.
		if strings.HasSuffix(p, "/") && strings.HasPrefix(path, p) && len(path) > len(p) || !strings.HasSuffix(p, "/") && path == p {
			return nil
		}
	}
	return inputError("route", "%q is not a page of the UI (routes start with one of %s)", r, strings.Join(viewRoutes, ", "))
}

// errNoViewWriter is a service without a ViewWriter (Options.Views).
var errNoViewWriter = errors.New("this query service was started without a store for saved views")

// Views lists the saved views by name.
func (s *Service) Views(ctx context.Context) ([]SavedView, error) {
	release, err := s.limiter.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	v, err := s.store.ListViews(ctx, MaxViews)
	return v, classify(err, nil)
}

// View reads one saved view.
func (s *Service) View(ctx context.Context, id string) (SavedView, error) {
	if err := checkViewID(id); err != nil {
		return SavedView{}, err
	}
	release, err := s.limiter.Acquire(ctx)
	if err != nil {
		return SavedView{}, err
	}
	defer release()
	v, ok, err := s.store.GetView(ctx, id)
	if err != nil {
		return SavedView{}, classify(err, nil)
	}
	if !ok {
		return SavedView{}, &NotFoundError{What: "saved view " + id}
	}
	return v, nil
}

// SaveView stores a view and returns it as stored.
func (s *Service) SaveView(ctx context.Context, in ViewInput) (SavedView, error) {
	if s.views == nil {
		return SavedView{}, errNoViewWriter
	}
	if err := checkViewInput(in); err != nil {
		return SavedView{}, err
	}
	release, err := s.limiter.Acquire(ctx)
	if err != nil {
		return SavedView{}, err
	}
	defer release()
	now := s.now().UTC().Truncate(time.Millisecond)
	created := now
	if in.ID != "" {
		if err := checkViewID(in.ID); err != nil {
			return SavedView{}, err
		}
		old, ok, err := s.store.GetView(ctx, in.ID)
		if err != nil {
			return SavedView{}, classify(err, nil)
		}
		if !ok {
			return SavedView{}, &NotFoundError{What: "saved view " + in.ID}
		}
		created = old.Created
	} else {
		n, err := s.store.CountViews(ctx)
		if err != nil {
			return SavedView{}, classify(err, nil)
		}
		if n >= MaxViews {
			return SavedView{}, inputError("", "there are %d saved views, the limit; delete some first", n)
		}
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return SavedView{}, err
		}
		in.ID = hex.EncodeToString(b[:])
	}
	v := SavedView{ID: in.ID, Name: strings.TrimSpace(in.Name), Route: in.Route, Owner: in.Owner, Created: created, Updated: now}
	if err := s.views.SaveView(ctx, v.ID, v.Name, v.Route, v.Owner, v.Created, v.Updated); err != nil {
		return SavedView{}, err
	}
	return v, nil
}

// DeleteView deletes a saved view.
func (s *Service) DeleteView(ctx context.Context, id string) error {
	if s.views == nil {
		return errNoViewWriter
	}
	if _, err := s.View(ctx, id); err != nil {
		return err
	}
	release, err := s.limiter.Acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	return s.views.DeleteView(ctx, id, s.now())
}
