/* Bytes per cached object: 3,000 kubesim pods held as whole cJSON trees, as trees trimmed by
 * phx_pod_transform, and as compact JSON text (whole and trimmed), measured as heap in use
 * (mallinfo2) so malloc's per-chunk overhead counts. Prints numbers; not a test.
 *   build/bin/informer_mem_bench [N=3000] [pods.json from kubectl get pods -o json]
 * bench/ programs link the kube library only, so the transform is compiled in from its source. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../controller/phx_transform.c"

/* A pod as kubesim serves it for manifests/samples/minimal.yaml (kubectl get pods -o json). */
static const char *const POD =
	"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"creationTimestamp\":"
	"\"2026-11-22T21:36:34Z\",\"generation\":2,\"labels\":{\"app.kubernetes.io/instance\":"
	"\"hello\",\"app.kubernetes.io/managed-by\":\"phoenix-operator\",\"app.kubernetes.io/name\":"
	"\"hello\",\"app.kubernetes.io/part-of\":\"hello\",\"phoenix.fpai.io/revision\":"
	"\"2c610a87e4\",\"phoenix.fpai.io/role\":\"standby\",\"phoenix.fpai.io/service\":\"hello\","
	"\"phoenix.fpai.io/serving\":\"false\"},\"name\":\"hello-gqxtw\",\"namespace\":\"default\","
	"\"ownerReferences\":[{\"apiVersion\":\"phoenix.fpai.io/v1alpha1\",\"blockOwnerDeletion\":"
	"true,\"controller\":true,\"kind\":\"PhoenixService\",\"name\":\"hello\",\"uid\":"
	"\"0726cd0a-6296-4c82-8de9-31d42b608d7d\"}],\"resourceVersion\":\"29\",\"uid\":"
	"\"3f62cc12-312a-44f3-b6c7-db49dc336d2c\"},\"spec\":{\"affinity\":{\"podAntiAffinity\":{"
	"\"preferredDuringSchedulingIgnoredDuringExecution\":[{\"podAffinityTerm\":{"
	"\"labelSelector\":{\"matchLabels\":{\"phoenix.fpai.io/service\":\"hello\"}},"
	"\"topologyKey\":\"kubernetes.io/hostname\"},\"weight\":100}]}},\"containers\":[{\"args\":"
	"[\"-listen=:8080\",\"-text=hello from a phoenix\"],\"image\":\"hashicorp/http-echo:1.0\","
	"\"name\":\"hello\",\"ports\":[{\"containerPort\":8080}],\"readinessProbe\":{"
	"\"failureThreshold\":3,\"httpGet\":{\"path\":\"/health\",\"port\":8080},\"periodSeconds\":5},"
	"\"resources\":{\"requests\":{\"cpu\":\"20m\",\"memory\":\"32Mi\"}}}],\"dnsPolicy\":"
	"\"ClusterFirst\",\"nodeName\":\"kubesim-node-3\",\"restartPolicy\":\"Always\","
	"\"schedulerName\":\"default-scheduler\",\"serviceAccountName\":\"default\","
	"\"terminationGracePeriodSeconds\":30},\"status\":{\"conditions\":[{\"lastProbeTime\":null,"
	"\"lastTransitionTime\":\"2026-11-22T21:36:34Z\",\"status\":\"True\",\"type\":"
	"\"PodScheduled\"},{\"lastProbeTime\":null,\"lastTransitionTime\":\"2026-11-22T21:36:34Z\","
	"\"status\":\"True\",\"type\":\"PodReadyToStartContainers\"},{\"lastProbeTime\":null,"
	"\"lastTransitionTime\":\"2026-11-22T21:36:34Z\",\"status\":\"True\",\"type\":"
	"\"Initialized\"},{\"lastProbeTime\":null,\"lastTransitionTime\":\"2026-11-22T21:36:34Z\","
	"\"status\":\"True\",\"type\":\"ContainersReady\"},{\"lastProbeTime\":null,"
	"\"lastTransitionTime\":\"2026-11-22T21:36:34Z\",\"status\":\"True\",\"type\":\"Ready\"}],"
	"\"containerStatuses\":[{\"containerID\":"
	"\"containerd://3f62cc12-312a-44f3-b6c7-000000000001\",\"image\":\"hashicorp/http-echo:1.0\","
	"\"imageID\":\"kubesim.local/hashicorp/http-echo:1.0@sha256:0000000000000000000000000000000"
	"000000000000000000000000000000000\",\"lastState\":{},\"name\":\"hello\",\"ready\":true,"
	"\"restartCount\":0,\"started\":true,\"state\":{\"running\":{\"startedAt\":"
	"\"2026-11-22T21:36:34Z\"}}}],\"hostIP\":\"172.18.0.4\",\"hostIPs\":[{\"ip\":\"172.18.0.4\"}],"
	"\"phase\":\"Running\",\"podIP\":\"10.244.0.4\",\"podIPs\":[{\"ip\":\"10.244.0.4\"}],"
	"\"qosClass\":\"Burstable\",\"startTime\":\"2026-11-22T21:36:34Z\"}}";

static size_t heap_used(void)
{
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
}

static size_t count_nodes(const cJSON *o)
{
	size_t n = 0;
	for (; o != NULL; o = o->next)
		n += 1 + count_nodes(o->child);
	return n;
}

/* Makes the i-th pod distinct (name and uid) so strings are not all the same length. */
static cJSON *make_pod(const cJSON *tmpl, int i)
{
	cJSON *p = cJSON_Duplicate(tmpl, 1);
	cJSON *md = cJSON_GetObjectItemCaseSensitive(p, "metadata");
	char buf[64];

	snprintf(buf, sizeof(buf), "svc-%04d-%05x", i / 3, (unsigned)i * 2654435761u % 0xfffff);
	cJSON_ReplaceItemInObjectCaseSensitive(md, "name", cJSON_CreateString(buf));
	snprintf(buf, sizeof(buf), "3f62cc12-312a-44f3-b6c7-%012x", (unsigned)i);
	cJSON_ReplaceItemInObjectCaseSensitive(md, "uid", cJSON_CreateString(buf));
	return p;
}

enum form { FULL_TREE, TRIMMED_TREE, TRIMMED_COPY, FULL_TEXT, TRIMMED_TEXT };

/* Heap bytes per object for n objects kept in the given form. The transient parse of the
 * served text is freed before measuring, as the informer does. */
static double per_object(const cJSON *tmpl, int n, enum form f, size_t *nodes)
{
	void **keep = calloc((size_t)n, sizeof(*keep));
	size_t before, after;

	before = heap_used();
	for (int i = 0; i < n; i++) {
		cJSON *p = make_pod(tmpl, i);
		char *txt = cJSON_PrintUnformatted(p); /* what the server sends */
		cJSON *o;

		cJSON_Delete(p);
		o = cJSON_Parse(txt);
		free(txt);
		if (f != FULL_TREE && f != FULL_TEXT)
			phx_pod_transform(o, NULL);
		if (f == TRIMMED_COPY) {
			/* A fresh copy: the trimmed tree without the holes of the deleted nodes. */
			cJSON *c = cJSON_Duplicate(o, 1);
			cJSON_Delete(o);
			o = c;
		}
		if (i == 0 && nodes != NULL)
			*nodes = count_nodes(o);
		if (f == FULL_TEXT || f == TRIMMED_TEXT) {
			keep[i] = cJSON_PrintUnformatted(o);
			cJSON_Delete(o);
		} else {
			keep[i] = o;
		}
	}
	after = heap_used();
	for (int i = 0; i < n; i++) {
		if (f == FULL_TEXT || f == TRIMMED_TEXT)
			free(keep[i]);
		else
			cJSON_Delete(keep[i]);
	}
	free(keep);
	malloc_trim(0);
	return (double)(after - before) / n;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 3000;
	cJSON *tmpl = cJSON_Parse(POD), *list = NULL;
	size_t nf = 0, nt = 0;
	double full, trimmed, copy, tfull, ttrim;

	if (argc > 2) {
		/* A real pod from a running kubesim: the first item of a PodList. */
		FILE *fp = fopen(argv[2], "r");
		char *buf = NULL;
		size_t len = 0;
		if (fp == NULL || getdelim(&buf, &len, '\0', fp) < 0) {
			fprintf(stderr, "cannot read %s\n", argv[2]);
			return 1;
		}
		fclose(fp);
		list = cJSON_Parse(buf);
		free(buf);
		cJSON_Delete(tmpl);
		tmpl = cJSON_Duplicate(
			cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(list, "items"), 0), 1);
	}
	if (tmpl == NULL || n <= 0) {
		fprintf(stderr, "no pod\n");
		return 1;
	}
	full = per_object(tmpl, n, FULL_TREE, &nf);
	trimmed = per_object(tmpl, n, TRIMMED_TREE, &nt);
	copy = per_object(tmpl, n, TRIMMED_COPY, NULL);
	tfull = per_object(tmpl, n, FULL_TEXT, NULL);
	ttrim = per_object(tmpl, n, TRIMMED_TEXT, NULL);
	printf("%d pods, heap bytes per pod (malloc overhead included):\n", n);
	printf("  whole cJSON tree          %7.0f B  (%zu nodes)\n", full, nf);
	printf("  phx_pod_transform tree    %7.0f B  (%zu nodes)\n", trimmed, nt);
	printf("  transformed, fresh copy   %7.0f B\n", copy);
	printf("  whole, compact JSON text  %7.0f B\n", tfull);
	printf("  transformed, compact text %7.0f B\n", ttrim);
	printf("  x %d pods: whole tree %.1f MiB, transformed tree %.1f MiB\n", n,
	       full * n / 1048576.0, trimmed * n / 1048576.0);
	cJSON_Delete(tmpl);
	cJSON_Delete(list);
	return 0;
}
