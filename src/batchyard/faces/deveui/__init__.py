"""Face 5: DevEUI batches (seeds/004), under ``/api/v1/batches``, and ``batchyard deveui``."""
