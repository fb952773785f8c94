// Package faults holds a service's fault-injection settings and lets an
// operator change them while the service runs (GET/PUT /admin/faults), so a
// demo can break payment or slow auth without restarting anything.
package faults

import (
	"errors"
	"sync"

	"github.com/gofiber/fiber/v2"

	"github.com/tracehouse/tracehouse/sample-services/internal/httpx"
)

// Settings is what a service keeps in a Store: a plain struct of values
// (no pointers, maps or slices, so a copy is a snapshot) that can check
// itself. Validate should return httpx.FieldError values so a bad PUT is a
// 400 naming the field.
type Settings interface {
	Validate() error
}

// Store is the current settings of one service, safe for concurrent use.
type Store[T Settings] struct {
	mu        sync.RWMutex
	current   T
	listeners []func(old, updated T)
}

// NewStore validates initial (which came from flags and env) and holds it.
func NewStore[T Settings](initial T) (*Store[T], error) {
	if err := initial.Validate(); err != nil {
		return nil, err
	}
	return &Store[T]{current: initial}, nil
}

// Load returns a snapshot of the current settings.
func (s *Store[T]) Load() T {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.current
}

// OnChange registers fn to run after every successful update, for settings
// that live in objects built from them (a circuit breaker, say).
func (s *Store[T]) OnChange(fn func(old, updated T)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listeners = append(s.listeners, fn)
}

// Update applies patch to a copy of the current settings and keeps the
// result only if it validates.
func (s *Store[T]) Update(patch func(*T) error) (T, error) {
	s.mu.Lock()
	old := s.current
	next := old
	if err := patch(&next); err != nil {
		s.mu.Unlock()
		return old, err
	}
	if err := next.Validate(); err != nil {
		s.mu.Unlock()
		return old, err
	}
	s.current = next
	listeners := append([]func(old, updated T){}, s.listeners...)
	s.mu.Unlock()

	// Outside the lock: a listener may Load.
	for _, fn := range listeners {
		fn(old, next)
	}
	return next, nil
}

// Mount serves the store at /admin/faults: GET returns the settings, PUT
// takes a partial JSON object (fields left out keep their value) and
// returns the settings now in force.
func Mount[T Settings](app fiber.Router, store *Store[T], onUpdate func(c *fiber.Ctx, updated T)) {
	app.Get("/admin/faults", func(c *fiber.Ctx) error {
		return c.JSON(store.Load())
	})
	app.Put("/admin/faults", func(c *fiber.Ctx) error {
		updated, err := store.Update(func(next *T) error {
			return httpx.DecodeJSON(c.Body(), next)
		})
		if err != nil {
			var apiErr *httpx.APIError
			if !errors.As(err, &apiErr) {
				err = httpx.FieldError("body", "%v", err)
			}
			return err
		}
		if onUpdate != nil {
			onUpdate(c, updated)
		}
		return c.JSON(updated)
	})
}
