// Package product is the minimal cf-orch flow in Go, on the generated stubs:
// acquire a lease (waiting in line on the server stream), keep it alive while
// working, release it on every exit path.
package product

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	cforchv1 "github.com/cf-orch/cf-orch/gen/go/cforch/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Client talks to one coordinator.
type Client struct {
	conn   *grpc.ClientConn
	leases cforchv1.LeaseServiceClient
	// OnQueued, when set, sees every QUEUED update while waiting.
	OnQueued func(*cforchv1.QueueStatus)
}

// Dial connects to a coordinator at target ("127.0.0.1:7700"), without TLS.
func Dial(target string) (*Client, error) {
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	return &Client{conn: conn, leases: cforchv1.NewLeaseServiceClient(conn)}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Acquire waits for a lease; cancelling ctx leaves the queue.
func (c *Client) Acquire(ctx context.Context, requestID string, slot *cforchv1.Slot, ttl time.Duration) (*cforchv1.Lease, error) {
	stream, err := c.leases.Acquire(ctx, &cforchv1.AcquireRequest{
		RequestId: requestID,
		Slot:      slot,
		TtlMs:     uint32(ttl / time.Millisecond),
	})
	if err != nil {
		return nil, err
	}
	for {
		update, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("acquire %s: stream ended without GRANTED", requestID)
		}
		if err != nil {
			return nil, err
		}
		switch event := update.Event.(type) {
		case *cforchv1.AcquireResponse_Queued:
			if c.OnQueued != nil {
				c.OnQueued(event.Queued)
			}
		case *cforchv1.AcquireResponse_Granted:
			return event.Granted, nil
		}
	}
}

// KeepAlive renews the lease every TTL/3 until ctx ends. It returns the error
// that stopped it: ctx's, or NOT_FOUND when the lease was lost.
func (c *Client) KeepAlive(ctx context.Context, lease *cforchv1.Lease) error {
	ticker := time.NewTicker(time.Duration(lease.GetTtlMs()) * time.Millisecond / 3)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
			if _, err := c.leases.KeepAlive(ctx, &cforchv1.KeepAliveRequest{LeaseId: lease.GetLeaseId()}); err != nil && ctx.Err() == nil {
				return err
			}
		}
	}
}

// Release frees the lease; releasing twice is harmless.
func (c *Client) Release(ctx context.Context, lease *cforchv1.Lease) (*cforchv1.ReleaseResponse, error) {
	return c.leases.Release(ctx, &cforchv1.ReleaseRequest{
		Target: &cforchv1.ReleaseRequest_LeaseId{LeaseId: lease.GetLeaseId()},
	})
}

// WithLease acquires a lease, keeps it alive while work runs, and releases it
// however work ends. work's context is cancelled if the lease is lost.
func (c *Client) WithLease(ctx context.Context, requestID string, slot *cforchv1.Slot, ttl time.Duration, work func(context.Context, *cforchv1.Lease) error) error {
	lease, err := c.Acquire(ctx, requestID, slot, ttl)
	if err != nil {
		return err
	}
	workCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	lost := make(chan error, 1)
	go func() {
		err := c.KeepAlive(workCtx, lease)
		if workCtx.Err() == nil {
			lost <- err
			cancel()
		}
	}()
	defer func() {
		releaseCtx, done := context.WithTimeout(context.Background(), 10*time.Second)
		defer done()
		_, _ = c.Release(releaseCtx, lease)
	}()
	if err := work(workCtx, lease); err != nil {
		return err
	}
	select {
	case err := <-lost:
		return fmt.Errorf("lease %s lost: %w", lease.GetLeaseId(), err)
	default:
		return nil
	}
}
