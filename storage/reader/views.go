package reader

import (
	"context"
	"time"

	"github.com/tracehouse/tracehouse/storage/chsql"
)

// SavedView is a named UI route (migration 0011).
type SavedView struct {
	ID, Name, Route, Owner string
	Created, Updated       time.Time
}

const viewCols = "Id, Name, Route, Owner, Created, Updated"

// ListViews lists the saved views by name. FINAL keeps the newest version
// of each view, and drops the deleted ones, before parts merge.
func (r *Reader) ListViews(ctx context.Context, limit int) ([]SavedView, error) {
	p := chsql.NewParams("p")
	sql := "SELECT " + viewCols + " FROM " + r.t.savedViews + " FINAL WHERE Deleted = 0 ORDER BY lowerUTF8(Name), Id LIMIT " + p.Add("UInt32", uint32(limit))
	out := []SavedView{}
	err := r.query(ctx, nil, sql, p.Args(), func(rows driverRows) error {
		var v SavedView
		if err := rows.Scan(&v.ID, &v.Name, &v.Route, &v.Owner, &v.Created, &v.Updated); err != nil {
			return err
		}
		out = append(out, v)
		return nil
	})
	return out, err
}

// GetView reads one saved view; ok is false when there is none (or it was
// deleted).
func (r *Reader) GetView(ctx context.Context, id string) (v SavedView, ok bool, err error) {
	p := chsql.NewParams("p")
	sql := "SELECT " + viewCols + " FROM " + r.t.savedViews + " FINAL WHERE Id = " + p.Add("String", id) + " AND Deleted = 0"
	err = r.query(ctx, nil, sql, p.Args(), func(rows driverRows) error {
		ok = true
		return rows.Scan(&v.ID, &v.Name, &v.Route, &v.Owner, &v.Created, &v.Updated)
	})
	return v, ok, err
}

// CountViews is how many saved views there are.
func (r *Reader) CountViews(ctx context.Context) (uint64, error) {
	var n uint64
	err := r.query(ctx, nil, "SELECT count() FROM "+r.t.savedViews+" FINAL WHERE Deleted = 0", nil, func(rows driverRows) error { return rows.Scan(&n) })
	return n, err
}
