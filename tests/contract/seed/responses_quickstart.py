import os
from openai import OpenAI
client = OpenAI(
# Jika Anda belum mengonfigurasi variabel lingkungan, ganti baris berikut dengan Kunci API Model Studio Anda: api_key="sk-xxx",
api_key=os.getenv("DASHSCOPE_API_KEY"),
base_url=os.environ["SEED_BASE_URL"]
)
response = client.responses.create(
model="qwen3-max-2026-01-23",
input="Berapa 12 pangkat 3?",
tools=[
{
"type": "code_interpreter"
},
{
"type": "web_search"
},
{
"type": "web_extractor"
}
],
extra_body = {
"enable_thinking": True
}
)
# Hapus komentar baris berikut untuk melihat output antara
# print(response.output)
print("="*20+"Response"+"="*20)
print(response.output_text)
print("="*20+"Penggunaan token dan pemanggilan tool"+"="*20)
print(response.usage)
