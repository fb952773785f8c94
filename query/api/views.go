package api

import (
	"encoding/json"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/tracehouse/tracehouse/query"
)

type viewJSON struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Route   string `json:"route"`
	Owner   string `json:"owner,omitempty"`
	Created string `json:"created"`
	Updated string `json:"updated"`
}

func renderView(v query.SavedView) viewJSON {
	return viewJSON{ID: v.ID, Name: v.Name, Route: v.Route, Owner: v.Owner, Created: formatTime(v.Created), Updated: formatTime(v.Updated)}
}

// isWriteRoute tells the /api routes that change state: saving and
// deleting a view. They take POST with a JSON body only (readOnly).
func isWriteRoute(path string) bool {
	if path == "/api/v1/views" {
		return true
	}
	rest, ok := strings.CutPrefix(path, "/api/v1/views/")
	if !ok {
		return false
	}
	id, ok := strings.CutSuffix(rest, "/delete")
	return ok && id != "" && !strings.Contains(id, "/")
}

func (s *server) listViews(c *fiber.Ctx) error {
	views, err := s.svc.Views(c.UserContext())
	if err != nil {
		return err
	}
	out := make([]viewJSON, 0, len(views))
	for _, v := range views {
		out = append(out, renderView(v))
	}
	return respond(c, out, len(out))
}

func (s *server) getView(c *fiber.Ctx) error {
	v, err := s.svc.View(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	return respond(c, renderView(v), 1)
}

// saveView is POST /api/v1/views with {"name", "route", "id"?}: a new
// view, or a new version of id.
func (s *server) saveView(c *fiber.Ctx) error {
	var in struct {
		ID    string `json:"id"`
		Name  string `json:"name"`
		Route string `json:"route"`
	}
	dec := json.NewDecoder(strings.NewReader(string(c.Body())))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return badParam("body", "the body must be a JSON object {\"name\": …, \"route\": …} (and \"id\" to replace a view): %v", err)
	}
	v, err := s.svc.SaveView(c.UserContext(), query.ViewInput{ID: in.ID, Name: in.Name, Route: in.Route, Owner: user(c)})
	if err != nil {
		return err
	}
	// Views are shared: who changed one is worth a line.
	s.log.Info().Str("view", v.ID).Str("user", v.Owner).Str("name", v.Name).Msg("view saved")
	return respond(c, renderView(v), 1)
}

// deleteView is POST /api/v1/views/:id/delete.
func (s *server) deleteView(c *fiber.Ctx) error {
	id := c.Params("id")
	if err := s.svc.DeleteView(c.UserContext(), id); err != nil {
		return err
	}
	s.log.Info().Str("view", id).Str("user", user(c)).Msg("view deleted")
	return respond(c, map[string]string{"deleted": id}, 1)
}
