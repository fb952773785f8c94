package writer

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/tracehouse/tracehouse/storage"
	"github.com/tracehouse/tracehouse/storage/chsql"
	"github.com/tracehouse/tracehouse/storage/schema"
)

// Views writes the UI's saved views (migration 0011): every change is a
// new version of the view's row, a deletion one with Deleted = 1; the
// reader (storage/reader) reads the newest version of each.
type Views struct {
	conn  driver.Conn
	table string
}

// NewViews returns the saved views of database db (empty: the default).
func NewViews(conn driver.Conn, db string) (*Views, error) {
	if db == "" {
		db = schema.DefaultDatabase
	}
	if err := storage.CheckIdent(db); err != nil {
		return nil, fmt.Errorf("views: database: %w", err)
	}
	return &Views{conn: conn, table: storage.QuoteIdent(db) + "." + schema.SavedViewsTable}, nil
}

// put inserts one version of a view. Version is the time of the change in
// nanoseconds: the newest change wins.
func (v *Views) put(ctx context.Context, id, name, route, owner string, created, at time.Time, deleted bool) error {
	p := chsql.NewParams("v")
	var del uint8
	if deleted {
		del = 1
	}
	sql := "INSERT INTO " + v.table + " (Id, Name, Route, Owner, Created, Updated, Version, Deleted) SELECT " +
		p.Add("String", id) + ", " + p.Add("String", name) + ", " + p.Add("String", route) + ", " + p.Add("String", owner) + ", " +
		p.Add("DateTime64(3)", created.UTC()) + ", " + p.Add("DateTime64(3)", at.UTC()) + ", " + p.Add("UInt64", uint64(at.UnixNano())) + ", " + p.Add("UInt8", del)
	if err := v.conn.Exec(ctx, sql, p.Args()...); err != nil {
		return fmt.Errorf("saving view %s: %w", id, err)
	}
	return nil
}

// SaveView stores a view (a new one, or a new version of id).
func (v *Views) SaveView(ctx context.Context, id, name, route, owner string, created, at time.Time) error {
	return v.put(ctx, id, name, route, owner, created, at, false)
}

// DeleteView marks a view deleted.
func (v *Views) DeleteView(ctx context.Context, id string, at time.Time) error {
	return v.put(ctx, id, "", "", "", at, at, true)
}
