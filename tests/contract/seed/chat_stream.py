from openai import OpenAI
import os
# Inisialisasi klien OpenAI
client = OpenAI(
# Jika Anda belum mengonfigurasi variabel lingkungan, ganti baris berikut dengan Kunci API Model Studio Anda: api_key="sk-xxx"
api_key=os.getenv("DASHSCOPE_API_KEY"),
base_url=os.environ["SEED_BASE_URL"],
)
messages = [{"role": "user", "content": "Berapa 123 pangkat 21?"}]
completion = client.chat.completions.create(
model="qwen3-max-2026-01-23",
messages=messages,
extra_body={"enable_thinking": True, "enable_code_interpreter": True},
stream=True,
stream_options={
"include_usage": True
},
)
reasoning_content = "" # Proses thinking lengkap
answer_content = "" # Tanggapan lengkap
is_answering = False # Penanda untuk memeriksa apakah tahap respons telah dimulai
print("\n" + "=" * 20 + "Proses thinking" + "=" * 20 + "\n")
for chunk in completion:
    if not chunk.choices:
        print("\nPenggunaan:")
        print(chunk.usage)
        continue
    delta = chunk.choices[0].delta
    # Kumpulkan hanya konten thinking
    if hasattr(delta, "reasoning_content") and delta.reasoning_content is not None:
        if not is_answering:
            print(delta.reasoning_content, end="", flush=True)
        reasoning_content += delta.reasoning_content
    # Saat konten diterima, mulai tanggapan
    if hasattr(delta, "content") and delta.content:
        if not is_answering:
            print("\n" + "=" * 20 + "Tanggapan lengkap" + "=" * 20 + "\n")
            is_answering = True
        print(delta.content, end="", flush=True)
        answer_content += delta.content
