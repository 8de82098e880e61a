package capplan_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	capplan "github.com/capplan/capplan/clients/go"
)

// The design document's two calls from the product API: pick a cluster for a new service, reserve it, and later
// find the task queue its deploys go to.
func Example() {
	ctx := context.Background()
	router := capplan.NewClient("http://127.0.0.1:8080", "s3cret")
	volumes := []capplan.VolumeInput{{MountPath: "/data", Size: "10Gi"}}

	// cluster := selectCluster(ctx, SelectClusterInput{Region: user.PreferredRegion, HasVolume: len(volumes) > 0})
	cluster, err := router.SelectCluster(ctx, capplan.SelectClusterInput{Region: "eu-west", HasVolume: len(volumes) > 0})
	var nothingFits *capplan.NothingFitsError
	if errors.As(err, &nothingFits) {
		log.Fatalf("no cluster can take it: %v", nothingFits.Reasons())
	} else if err != nil {
		log.Fatal(err)
	}
	fmt.Println("would go to", cluster.ID, "on", cluster.TaskQueue)

	// create_service: reserve for real; the request id makes retries safe.
	placement, err := router.Place(ctx, capplan.PlacementInput{
		RequestID:   "create-service-7f3a",
		ServiceName: "my-app",
		Repo:        "my-app",
		Request:     capplan.PlacementRequest{CustomerID: "cust-42", Region: "eu-west", Volumes: volumes},
	})
	if err != nil {
		log.Fatal(err)
	}

	// cluster := getClusterForService(service); TaskQueue: cluster.TaskQueue
	service, err := router.ClusterForService(ctx, placement.ServiceID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("deploy to", service.TaskQueue)
}
