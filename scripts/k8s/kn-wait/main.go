// kn-wait does what `kn service create --wait` and `kn service delete --wait` do through
// client-go: list a Service with fieldSelector=metadata.name=NAME, then watch from the list's
// resourceVersion until it is Ready at its generation (or DELETED). Skiff's tests run it against
// `skiff up` because kn itself cannot be built from the Go module proxy (see
// shared/reference/kubernetes-clients.md). Each event seen is printed as one JSON line.
//
//	kn-wait --kubeconfig FILE [--namespace default] --name NAME --for ready|deleted [--timeout 60s]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
)

var services = schema.GroupVersionResource{Group: "serving.knative.dev", Version: "v1", Resource: "services"}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig file")
	namespace := flag.String("namespace", "default", "namespace")
	name := flag.String("name", "", "Service name")
	until := flag.String("for", "ready", "ready or deleted")
	timeout := flag.Duration("timeout", 60*time.Second, "how long to wait")
	flag.Parse()
	if *name == "" || (*until != "ready" && *until != "deleted") {
		flag.Usage()
		os.Exit(2)
	}
	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fail("kubeconfig: %v", err)
	}
	client, err := dynamic.NewForConfig(config)
	if err != nil {
		fail("client: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	api := client.Resource(services).Namespace(*namespace)
	selector := fields.OneTermEqualSelector("metadata.name", *name).String()

	list, err := api.List(ctx, metav1.ListOptions{FieldSelector: selector})
	if err != nil {
		fail("list: %v", err)
	}
	for i := range list.Items {
		if list.Items[i].GetName() != *name {
			fail("list with fieldSelector metadata.name=%s answered %s", *name, list.Items[i].GetName())
		}
	}
	report("LIST", map[string]any{"resourceVersion": list.GetResourceVersion(), "items": len(list.Items)})
	if *until == "ready" && len(list.Items) == 1 && ready(&list.Items[0]) {
		return
	}
	if *until == "deleted" && len(list.Items) == 0 {
		return
	}

	w, err := api.Watch(ctx, metav1.ListOptions{FieldSelector: selector, ResourceVersion: list.GetResourceVersion()})
	if err != nil {
		fail("watch: %v", err)
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			fail("timed out after %s waiting for %s to be %s", *timeout, *name, *until)
		case ev, open := <-w.ResultChan():
			if !open {
				fail("the watch ended before %s was %s", *name, *until)
			}
			if ev.Type == watch.Error {
				fail("watch error: %v", ev.Object)
			}
			obj, ok := ev.Object.(*unstructured.Unstructured)
			if !ok {
				fail("unexpected object %T in a %s event", ev.Object, ev.Type)
			}
			if obj.GetName() != *name {
				fail("watch with fieldSelector metadata.name=%s sent %s", *name, obj.GetName())
			}
			report(string(ev.Type), map[string]any{
				"name":            obj.GetName(),
				"resourceVersion": obj.GetResourceVersion(),
				"generation":      obj.GetGeneration(),
				"ready":           ready(obj),
			})
			// Like kn, ADDED is not enough: it waits for a MODIFIED with the Ready condition.
			if *until == "ready" && ev.Type == watch.Modified && ready(obj) {
				return
			}
			if *until == "deleted" && ev.Type == watch.Deleted {
				return
			}
		}
	}
}

// ready: the Ready condition is True for the Service's current generation.
func ready(obj *unstructured.Unstructured) bool {
	observed, _, _ := unstructured.NestedInt64(obj.Object, "status", "observedGeneration")
	if observed != obj.GetGeneration() {
		return false
	}
	conditions, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conditions {
		if m, ok := c.(map[string]any); ok && m["type"] == "Ready" && m["status"] == "True" {
			return true
		}
	}
	return false
}

func report(kind string, fields map[string]any) {
	fields["type"] = kind
	line, _ := json.Marshal(fields)
	fmt.Println(string(line))
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "kn-wait: "+format+"\n", args...)
	os.Exit(1)
}
