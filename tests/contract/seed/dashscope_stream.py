import os
import dashscope
# Untuk wilayah internasional, hapus komentar baris berikut
# dashscope.base_http_api_url = 'https://dashscope-intl.aliyuncs.com/api/v1'
messages = [
{"role": "user", "content": "Berapa 123 pangkat 21?"},
]
response = dashscope.Generation.call(
# Jika Anda belum mengonfigurasi variabel lingkungan, ganti baris berikut dengan Kunci API Model Studio Anda: api_key="sk-xxx",
api_key=os.getenv("DASHSCOPE_API_KEY"),
model="qwen3-max-2026-01-23",
messages=messages,
enable_code_interpreter=True,
enable_thinking=True,
result_format="message",
# Hanya untuk streaming output
stream=True
)
for chunk in response:
    output = chunk["output"]
    print(output)
