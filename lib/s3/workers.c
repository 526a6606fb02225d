/*
 * workers.c - a fixed set of threads that run the jobs handed to them.
 *
 * The S3 upload sends its parts from here.  It is kept apart and small on
 * purpose: the batch library will take its place, and the upload only needs
 * three calls (start, submit, finish) and a job function that gets the index
 * of the worker running it (to use that worker's connection and hashes).
 *
 * Jobs wait in a ring of fixed size, taken in order.  submit never blocks:
 * the upload bounds its jobs by its buffers, so the ring (sized for that
 * bound) is never full.  The threads block every signal, so that a SIGINT
 * meant for the program lands on a thread of the program's own.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

#include "s3-internal.h"

struct s3_workers {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	void **ring;
	unsigned cap, head, count;
	bool closing;
	s3_job_fn fn;
	void *arg;
	unsigned n; /* threads started */
	pthread_t *threads;
	struct worker_arg {
		struct s3_workers *w;
		unsigned index;
	} * args;
};

static void *worker_main(void *p)
{
	struct worker_arg *a = p;
	struct s3_workers *w = a->w;

	for (;;) {
		void *job;

		pthread_mutex_lock(&w->mu);
		while (w->count == 0 && !w->closing)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->count == 0) {
			pthread_mutex_unlock(&w->mu);
			return NULL;
		}
		job = w->ring[w->head];
		w->head = (w->head + 1) % w->cap;
		w->count--;
		pthread_mutex_unlock(&w->mu);
		w->fn(job, a->index, w->arg);
	}
}

static void free_workers(struct s3_workers *w)
{
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w->ring);
	free(w->threads);
	free(w->args);
	free(w);
}

int s3_workers_start(struct s3_workers **out, unsigned n, unsigned queue, s3_job_fn fn, void *arg)
{
	struct s3_workers *w = calloc(1, sizeof *w);
	sigset_t all, old;
	int rc = 0;

	*out = NULL;
	if (!w)
		return -ENOMEM;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->cap = queue ? queue : 1;
	w->fn = fn;
	w->arg = arg;
	w->ring = calloc(w->cap, sizeof *w->ring);
	w->threads = calloc(n, sizeof *w->threads);
	w->args = calloc(n, sizeof *w->args);
	if (!w->ring || !w->threads || !w->args) {
		free_workers(w);
		return -ENOMEM;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (; w->n < n; w->n++) {
		w->args[w->n] = (struct worker_arg){w, w->n};
		rc = -pthread_create(&w->threads[w->n], NULL, worker_main, &w->args[w->n]);
		if (rc < 0)
			break;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc < 0) {
		s3_workers_finish(w);
		return rc;
	}
	*out = w;
	return 0;
}

int s3_workers_submit(struct s3_workers *w, void *job)
{
	int rc = 0;

	pthread_mutex_lock(&w->mu);
	if (w->count == w->cap) {
		rc = -EOVERFLOW;
	} else {
		w->ring[(w->head + w->count) % w->cap] = job;
		w->count++;
		pthread_cond_signal(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	return rc;
}

void s3_workers_finish(struct s3_workers *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->closing = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	for (unsigned i = 0; i < w->n; i++)
		pthread_join(w->threads[i], NULL);
	free_workers(w);
}
